//! The MR's story across runs. Every note carries one hidden line per run, its own first:
//! `<!-- preflight-run <sha> <finished> <status> <findings> -->`. The next run reads them
//! back from the note it replaces and folds them into a collapsed "history" section, so
//! the note tells which commit was rehearsed when, and how it went.
//!
//! The lines are read from a note GitLab stores, so they are parsed strictly (a hex
//! commit, an RFC 3339 UTC time, a status from a closed list, a number) and rebuilt from
//! the parsed values; anything else is dropped. Only [`MAX_RUNS`] are kept.

use serde::Serialize;

/// The most earlier runs a note remembers.
pub const MAX_RUNS: usize = 20;

const PREFIX: &str = "<!-- preflight-run ";
const SUFFIX: &str = " -->";

/// The statuses a run line may carry: the summary's own, and `running` for a
/// placeholder (a run that never finished).
const STATUSES: &[&str] = &[
    "success",
    "findings",
    "failure",
    "error",
    "cancelled",
    "nothing_to_do",
    "refused",
    "stopped",
    "running",
];

/// One earlier run, as the history section shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PastRun {
    /// The full commit id (hex).
    pub sha: String,
    /// `YYYY-MM-DDTHH:MM:SSZ`.
    pub at: String,
    /// A status of [`STATUSES`]; `running` when the run never finished.
    pub status: String,
    pub findings: usize,
    /// For reading: the commit's first 12 characters.
    pub short: String,
    /// For reading: `2026-11-23 10:04 UTC`.
    pub when: String,
    /// For reading: `succeeded`, `a migration failed`, `did not finish`, ...
    pub result: &'static str,
    /// The hidden line that records it.
    pub line: String,
}

impl PastRun {
    /// A run line's values, checked; `None` when any is malformed.
    pub fn new(sha: &str, at: &str, status: &str, findings: usize) -> Option<PastRun> {
        let sha_ok = (7..=64).contains(&sha.len()) && sha.bytes().all(|b| b.is_ascii_hexdigit());
        let time = chrono::DateTime::parse_from_rfc3339(at).ok()?;
        if !sha_ok || !at.ends_with('Z') || !STATUSES.contains(&status) {
            return None;
        }
        let sha = sha.to_ascii_lowercase();
        let at = time.format("%Y-%m-%dT%H:%M:%SZ").to_string();
        Some(PastRun {
            short: sha.chars().take(12).collect(),
            when: time.format("%Y-%m-%d %H:%M UTC").to_string(),
            result: result_words(status),
            line: format!("{PREFIX}{sha} {at} {status} {findings}{SUFFIX}"),
            at,
            sha,
            status: status.to_string(),
            findings,
        })
    }
}

fn result_words(status: &str) -> &'static str {
    match status {
        "success" => "succeeded",
        "findings" => "findings over the policy",
        "failure" => "a migration failed",
        "error" => "could not finish",
        "cancelled" => "cancelled",
        "nothing_to_do" => "no new migrations",
        "refused" => "refused",
        "stopped" => "stopped before it finished",
        _ => "did not finish",
    }
}

fn parse_line(line: &str) -> Option<PastRun> {
    let rest = line.trim().strip_prefix(PREFIX)?.strip_suffix(SUFFIX)?;
    let fields: Vec<&str> = rest.split(' ').collect();
    let [sha, at, status, findings] = fields.as_slice() else {
        return None;
    };
    let findings = findings.parse().ok().filter(|n| *n < 1_000_000)?;
    PastRun::new(sha, at, status, findings)
}

/// The runs a note records, newest first (its own run, then its history), at most
/// [`MAX_RUNS`].
pub fn read(note: &str) -> Vec<PastRun> {
    note.lines().filter_map(parse_line).take(MAX_RUNS).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: &str = "0123456789abcdef0123456789abcdef01234567";

    #[test]
    fn run_lines_round_trip() {
        let run = PastRun::new(SHA, "2026-11-23T10:04:05Z", "success", 3).unwrap();
        assert_eq!(run.short, "0123456789ab");
        assert_eq!(run.when, "2026-11-23 10:04 UTC");
        assert_eq!(run.result, "succeeded");
        let note = format!("### title\n{}\n<sub>footer</sub>\n", run.line);
        assert_eq!(read(&note), vec![run]);
    }

    #[test]
    fn anything_but_a_well_formed_line_is_dropped() {
        let lines = [
            format!("<!-- preflight-run {SHA} 2026-11-23T10:04:05Z success 3 --> trailing"),
            format!("<!-- preflight-run {SHA}x 2026-11-23T10:04:05Z success 3 -->"),
            format!("<!-- preflight-run {SHA} 2026-11-23T10:04:05+02:00 success 3 -->"),
            format!("<!-- preflight-run {SHA} 2026-11-23T10:04:05Z pwned 3 -->"),
            format!("<!-- preflight-run {SHA} 2026-11-23T10:04:05Z success -1 -->"),
            format!("<!-- preflight-run {SHA} 2026-11-23T10:04:05Z success 3 [x](http://e) -->"),
            "<!-- preflight-run abc 2026-11-23T10:04:05Z success 3 -->".to_string(),
        ];
        for line in &lines {
            assert!(read(line).is_empty(), "{line}");
        }
    }

    #[test]
    fn at_most_max_runs_are_kept_newest_first() {
        let note: String = (0..30)
            .map(|i| {
                PastRun::new(
                    SHA,
                    &format!("2026-11-{:02}T10:00:00Z", i % 28 + 1),
                    "failure",
                    i,
                )
                .unwrap()
                .line
                    + "\n"
            })
            .collect();
        let runs = read(&note);
        assert_eq!(runs.len(), MAX_RUNS);
        assert_eq!(runs[0].findings, 0);
        assert_eq!(runs[0].result, "a migration failed");
    }
}
