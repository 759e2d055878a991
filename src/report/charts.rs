//! The note's charts, as data the summary template draws with Mermaid (GitLab renders
//! ```` ```mermaid ```` blocks): how many migrations fell in each runtime bucket, and each
//! migration's slowest statements. Only numbers rounded like every other number of the
//! note and labels from closed vocabularies (a statement's position and SQL command)
//! reach a chart, so a chart is as public-safe as the tables beside it; the gate checks
//! each block as one item all the same.

use super::rounding::sig2;
use crate::model::report::{MigrationOutcome, MigrationReport, RunReport};
use serde::Serialize;

/// Upper bounds of the runtime buckets, in seconds; the last bucket is open. The
/// template names them in the same order.
pub const RUNTIME_BUCKETS_S: [f64; 5] = [0.1, 1.0, 10.0, 60.0, 300.0];

/// At most this many statements per migration chart: the slowest, in their order.
pub const STATEMENTS_DRAWN: usize = 20;

/// One bar of a statement chart.
#[derive(Debug, Clone, Serialize)]
pub struct StatementTime {
    /// `3 CREATE INDEX`: position and SQL command.
    pub label: String,
    /// Milliseconds, two significant figures.
    pub ms: String,
}

/// How many migrations that ran fall in each runtime bucket; empty when none ran.
pub fn runtime_histogram(report: &RunReport) -> Vec<usize> {
    let mut counts = vec![0; RUNTIME_BUCKETS_S.len() + 1];
    let mut any = false;
    for m in report.databases.iter().flat_map(|d| &d.migrations) {
        if m.outcome == MigrationOutcome::Skipped {
            continue;
        }
        let bucket = RUNTIME_BUCKETS_S
            .iter()
            .position(|&upper| m.wall_s < upper)
            .unwrap_or(RUNTIME_BUCKETS_S.len());
        counts[bucket] += 1;
        any = true;
    }
    if any {
        counts
    } else {
        Vec::new()
    }
}

/// A command name as the chart may show it: SQL keywords in capitals (`CREATE INDEX`),
/// else `statement` (a statement the parser could not read is `UNPARSED`).
fn command(kind: &str) -> &str {
    let plain = !kind.is_empty()
        && kind.len() <= 40
        && kind.bytes().all(|b| b.is_ascii_uppercase() || b == b' ')
        && kind.split(' ').all(super::gate::is_sql_keyword);
    if plain {
        kind
    } else {
        "statement"
    }
}

/// The positions of the `n` longest of `durations`, in their original order (what a
/// chart with room for `n` bars draws).
pub fn longest_in_order(durations: &[f64], n: usize) -> Vec<usize> {
    let mut longest: Vec<usize> = (0..durations.len()).collect();
    longest.sort_by(|&a, &b| durations[b].total_cmp(&durations[a]));
    longest.truncate(n);
    longest.sort_unstable();
    longest
}

/// The migration's slowest statements of its file (a tool's own `BEGIN` and `COMMIT`
/// are not the file's), in order, labelled with their number in the file, and how many
/// were left out (those the trace only counted too).
pub fn statement_times(m: &MigrationReport) -> (Vec<StatementTime>, usize) {
    let statements: Vec<_> = m
        .trace
        .statements
        .iter()
        .filter(|s| s.number.is_some())
        .collect();
    let took = |i: usize| statements[i].ended_ms - statements[i].started_ms;
    let durations: Vec<f64> = (0..statements.len()).map(took).collect();
    let times = longest_in_order(&durations, STATEMENTS_DRAWN)
        .iter()
        .map(|&i| StatementTime {
            label: format!(
                "{} {}",
                statements[i].number.unwrap_or(0),
                command(&statements[i].kind)
            ),
            ms: sig2(took(i).max(0.0)).to_string(),
        })
        .collect();
    let counted = m.trace.elided.as_ref().map_or(0, |e| e.statements);
    (
        times,
        statements.len().saturating_sub(STATEMENTS_DRAWN) + counted,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_sql_command_words_label_a_bar() {
        assert_eq!(command("CREATE INDEX"), "CREATE INDEX");
        assert_eq!(command("ALTER TABLE"), "ALTER TABLE");
        assert_eq!(command("a\"] ; click"), "statement");
        assert_eq!(command(""), "statement");
        assert_eq!(command("UNPARSED"), "statement");
    }
}
