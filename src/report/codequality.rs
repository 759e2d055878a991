//! The Code Quality view of the public summary (GitLab's documented fields:
//! `description`, `check_name`, `fingerprint`, `severity`, `location.path`,
//! `location.lines.begin`), so findings show in the MR widget and on the diff line of
//! the migration. The fingerprint is stable across runs: the finding's id, database,
//! migration file, object and statement. Texts pass `check` (the leak gate).

use super::junit::finding_line;
use super::public::PublicSummary;
use serde::Serialize;
use sha2::{Digest, Sha256};

#[derive(Serialize)]
struct Lines {
    begin: usize,
}

#[derive(Serialize)]
struct Location {
    path: String,
    lines: Lines,
}

#[derive(Serialize)]
struct Issue {
    description: String,
    check_name: String,
    fingerprint: String,
    severity: &'static str,
    location: Location,
}

/// preflight's severities on GitLab's scale (info, minor, major, critical, blocker).
fn severity(s: &str, acknowledged: bool) -> &'static str {
    match (s, acknowledged) {
        (_, true) => "info",
        ("error", _) => "critical",
        ("warning", _) => "major",
        _ => "minor",
    }
}

/// A finding's migration file, from its database and migration.
pub type Locate<'a> = dyn Fn(&str, &str) -> Option<String> + 'a;

/// The report; `locate` gives a finding's migration file (its line is the line of the
/// statement it is attributed to), `check` gates every text.
pub fn code_quality(
    summary: &PublicSummary,
    locate: &Locate<'_>,
    check: &dyn Fn(&str) -> String,
) -> String {
    let mut issues = Vec::new();
    for db in &summary.databases {
        for f in &db.findings {
            let path = locate(&db.name, &f.migration).unwrap_or_else(|| f.migration.clone());
            let line = f.line.unwrap_or(1);
            let key = format!(
                "{}\0{}\0{}\0{}\0{}",
                f.id,
                db.name,
                path,
                f.object.as_deref().unwrap_or(""),
                f.statement.as_deref().unwrap_or("")
            );
            let fingerprint = Sha256::digest(key.as_bytes())
                .iter()
                .take(16)
                .map(|b| format!("{b:02x}"))
                .collect();
            issues.push(Issue {
                description: check(&finding_line(f)),
                check_name: f.id.to_string(),
                fingerprint,
                severity: severity(f.severity, f.acknowledged),
                location: Location {
                    path: check(&path),
                    lines: Lines { begin: line },
                },
            });
        }
    }
    serde_json::to_string_pretty(&issues).unwrap_or_else(|_| "[]".into())
}
