//! The public summary: the only thing that reaches the merge request.
//!
//! It is built from its own type, whose fields cannot carry free text from the run or
//! the clone (DESIGN.md rule 4): statement text only as normalized data statements whose
//! every identifier appears in the MR's own migration source; DDL as kind plus such
//! names; errors as SQLSTATE and condition name; relation names only where the MR's
//! source names them; numbers rounded to two significant figures. The wording lives in
//! the template.

use super::model::{MigrationOutcome, MigrationReport, RunReport};
use super::rounding::{count, duration_ms, duration_s, size_change};
use super::sqlstate::{condition_name, is_sqlstate};
use crate::observe::StatementStat;
use serde::Serialize;
use std::collections::HashSet;

/// Marks the note preflight owns, so the next run edits it instead of adding another.
pub const NOTE_MARKER: &str = "<!-- preflight:summary -->";

/// Thresholds for warnings (GitLab's defaults).
const SLOW_MIGRATION_S: f64 = 180.0;
const SLOW_STATEMENT_MS: f64 = 100.0;

/// Type and function names that may appear in normalized statements although the MR's
/// source does not spell them out.
const BUILTIN_NAMES: &[&str] = &[
    "text",
    "int",
    "int4",
    "int8",
    "bigint",
    "integer",
    "numeric",
    "bool",
    "boolean",
    "jsonb",
    "json",
    "uuid",
    "timestamptz",
    "timestamp",
    "date",
    "interval",
    "now",
    "count",
    "coalesce",
    "lower",
    "upper",
    "length",
    "sum",
    "min",
    "max",
    "avg",
    "pg_sleep",
    "generate_series",
    "random",
    "md5",
    "row_number",
];

/// The words of the MR's migration source: the only names the summary may show.
#[derive(Debug, Default, Clone)]
pub struct SourceWords(HashSet<String>);

impl SourceWords {
    pub fn from_sources<'a>(sources: impl IntoIterator<Item = &'a str>) -> Self {
        let mut words = HashSet::new();
        for text in sources {
            for w in text.split(|c: char| !(c.is_alphanumeric() || c == '_' || c == '$')) {
                if !w.is_empty() {
                    words.insert(w.to_string());
                    words.insert(w.to_lowercase());
                }
            }
        }
        SourceWords(words)
    }

    pub fn knows(&self, name: &str) -> bool {
        self.0.contains(name)
    }

    /// Every identifier in `sql` is a source word or a built-in name.
    fn covers(&self, sql: &str) -> bool {
        let Ok(scan) = pg_query::scan(sql) else {
            return false;
        };
        scan.tokens
            .iter()
            .filter(|t| t.token == pg_query::protobuf::Token::Ident as i32)
            .all(|t| {
                let word = sql
                    .get(t.start as usize..t.end as usize)
                    .unwrap_or("")
                    .trim_matches('"');
                self.knows(word) || BUILTIN_NAMES.contains(&word.to_lowercase().as_str())
            })
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct PublicStatement {
    pub kind: String,
    /// Normalized text of a data statement, when every name in it is a source word.
    pub text: Option<String>,
    /// Names the statement touches that the MR's source also names.
    pub objects: Vec<String>,
    /// True when text or names were left out because they are not source words.
    pub withheld: bool,
    pub calls: String,
    pub total: String,
    pub mean: String,
    pub max: String,
    pub rows: String,
    pub slow: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct PublicLock {
    /// The relation's name, when the MR's source names it.
    pub relation: Option<String>,
    pub mode: &'static str,
    pub held: String,
    pub blocks: &'static str,
}

#[derive(Debug, Clone, Serialize)]
pub struct PublicMigration {
    pub name: String,
    pub result: &'static str,
    pub sqlstate: Option<String>,
    pub condition: Option<&'static str>,
    pub runtime: String,
    pub size_change: String,
    pub statements: Vec<PublicStatement>,
    pub locks: Vec<PublicLock>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PublicWarning {
    /// `failed`, `timed_out`, `disk_limit`, `slow_migration`, `slow_statement`, `blocking_lock`.
    pub kind: &'static str,
    pub migration: String,
    pub value: String,
    pub threshold: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct PublicDatabase {
    pub name: String,
    /// The rehearsal of this database stopped on an infrastructure error.
    pub infrastructure_failed: bool,
    /// A clone was made for this database.
    pub cloned: bool,
    /// At least one migration ran on it (the note says what really happened).
    pub ran: bool,
    pub clone_ready: Option<String>,
    pub warnings: Vec<PublicWarning>,
    pub migrations: Vec<PublicMigration>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PublicSummary {
    pub marker: &'static str,
    /// `success`, `failure`, `error`, `cancelled`, `nothing_to_do`.
    pub status: &'static str,
    pub head_sha: Option<String>,
    pub job_url: Option<String>,
    pub databases: Vec<PublicDatabase>,
}

fn statement(s: &StatementStat, words: &SourceWords) -> PublicStatement {
    let c = &s.classified;
    let text = c.normalized.as_ref().filter(|t| words.covers(t)).cloned();
    let objects: Vec<String> = c
        .objects
        .iter()
        .filter(|o| words.knows(o))
        .cloned()
        .collect();
    PublicStatement {
        kind: c.kind.clone(),
        withheld: (c.is_dml && text.is_none()) || objects.len() < c.objects.len(),
        text,
        objects,
        calls: count(s.calls),
        total: duration_ms(s.total_ms),
        mean: duration_ms(s.mean_ms),
        max: duration_ms(s.max_ms),
        rows: count(s.rows),
        slow: s.max_ms > SLOW_STATEMENT_MS,
    }
}

/// Every result a migration row can show (a closed vocabulary of the leak gate).
pub const RESULTS: &[&str] = &["success", "failure", "timeout", "disk_limit", "skipped"];

fn result_name(o: MigrationOutcome) -> &'static str {
    match o {
        MigrationOutcome::Succeeded => "success",
        MigrationOutcome::Failed => "failure",
        MigrationOutcome::TimedOut => "timeout",
        MigrationOutcome::DiskLimit => "disk_limit",
        MigrationOutcome::Skipped => "skipped",
    }
}

fn migration(
    m: &MigrationReport,
    words: &SourceWords,
    warnings: &mut Vec<PublicWarning>,
) -> PublicMigration {
    let sqlstate = m.sqlstate.clone().filter(|c| is_sqlstate(c));
    let mut warn = |kind, value: String, threshold: String| {
        warnings.push(PublicWarning {
            kind,
            migration: m.name.clone(),
            value,
            threshold,
        })
    };
    match m.outcome {
        MigrationOutcome::Failed => warn(
            "failed",
            sqlstate.clone().unwrap_or_default(),
            String::new(),
        ),
        MigrationOutcome::TimedOut => warn("timed_out", duration_s(m.wall_s), String::new()),
        MigrationOutcome::DiskLimit => warn(
            "disk_limit",
            size_change(m.size_after - m.size_before),
            String::new(),
        ),
        _ => {}
    }
    if m.wall_s > SLOW_MIGRATION_S {
        warn(
            "slow_migration",
            duration_s(m.wall_s),
            duration_s(SLOW_MIGRATION_S),
        );
    }
    let statements: Vec<PublicStatement> =
        m.statements.iter().map(|s| statement(s, words)).collect();
    if let Some(slowest) = m.statements.iter().map(|s| s.max_ms).reduce(f64::max) {
        if slowest > SLOW_STATEMENT_MS {
            warn(
                "slow_statement",
                duration_ms(slowest),
                duration_ms(SLOW_STATEMENT_MS),
            );
        }
    }
    let locks: Vec<PublicLock> = m
        .locks
        .iter()
        .filter(|l| l.preexisting)
        .filter_map(|l| {
            Some(PublicLock {
                blocks: l.mode.blocks()?,
                relation: words.knows(&l.relation).then(|| l.relation.clone()),
                mode: l.mode.sql_name(),
                held: duration_ms(l.held_ms),
            })
        })
        .collect();
    if let Some(longest) = locks.first() {
        warn("blocking_lock", longest.held.clone(), String::new());
    }
    PublicMigration {
        name: m.name.clone(),
        result: result_name(m.outcome),
        condition: sqlstate.as_deref().and_then(condition_name),
        sqlstate,
        runtime: duration_s(m.wall_s),
        size_change: size_change(m.size_after - m.size_before),
        statements,
        locks,
    }
}

impl PublicSummary {
    /// Builds the summary from the full report, showing names only where `words` has them.
    pub fn build(report: &RunReport, words: &SourceWords) -> PublicSummary {
        let databases: Vec<PublicDatabase> = report
            .databases
            .iter()
            .map(|d| {
                let mut warnings = Vec::new();
                let migrations = d
                    .migrations
                    .iter()
                    .map(|m| migration(m, words, &mut warnings))
                    .collect();
                PublicDatabase {
                    name: d.name.clone(),
                    infrastructure_failed: d.error.is_some(),
                    cloned: d.clone.is_some(),
                    ran: d
                        .migrations
                        .iter()
                        .any(|m| m.outcome != MigrationOutcome::Skipped),
                    clone_ready: d.clone.as_ref().map(|c| duration_s(c.ready_seconds)),
                    warnings,
                    migrations,
                }
            })
            .collect();
        let status = if report.cancelled {
            "cancelled"
        } else if report.infrastructure_error().is_some() {
            "error"
        } else if report.any_failed() {
            "failure"
        } else if report.migration_count() == 0 {
            "nothing_to_do"
        } else {
            "success"
        };
        PublicSummary {
            marker: NOTE_MARKER,
            status,
            head_sha: report
                .head_sha
                .clone()
                .filter(|s| s.len() <= 64 && s.bytes().all(|b| b.is_ascii_hexdigit())),
            job_url: report.job_url.clone(),
            databases,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_words_cover_only_known_identifiers() {
        let w = SourceWords::from_sources(["UPDATE Accounts SET region = 'x'"]);
        assert!(w.knows("accounts") && w.knows("Accounts") && w.knows("region"));
        assert!(!w.knows("secret_table"));
        assert!(!w.covers("UPDATE accounts SET region = $1 WHERE id > $2::bigint"));
        let w = SourceWords::from_sources(["UPDATE accounts SET region = 'x' WHERE id > 5"]);
        assert!(w.covers("UPDATE accounts SET region = $1 WHERE id > $2::bigint"));
        assert!(!w.covers("SELECT * FROM secret_table WHERE id = $1"));
    }
}
