//! The JUnit XML view of the public summary, for GitLab's test report: one test suite
//! per database, one test case per migration (its file, its runtime). A failed
//! migration is a failure with its SQLSTATE and condition name; findings of severity
//! `error` are failures too, lesser and acknowledged ones are listed in the case's
//! output. Every text comes from the [`PublicSummary`] and passes `check` (the leak
//! gate) on its way in.

use super::public::{PublicFinding, PublicMigration, PublicSummary};

/// The fixed words the views put around the summary's texts (the gate allows them).
pub const WORDS: &str = "error warning info on statement Safe pattern acknowledged in the \
    migration with SQLSTATE failed timed out disk limit skipped success database";
use std::fmt::Write;

fn xml(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // XML 1.0 has no place for other control characters.
            c if (c as u32) < 0x20 && !matches!(c, '\n' | '\t') => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

/// `PF-I01 error: <danger> on <object>, statement 3 (CREATE INDEX): <evidence>. Safe pattern: <fix>. <url>`
pub fn finding_line(f: &PublicFinding) -> String {
    let mut line = format!("{} {}: {}", f.id, f.severity, f.danger);
    if let Some(o) = &f.object {
        let _ = write!(line, " on {o}");
    }
    if let Some(s) = &f.statement {
        let _ = write!(line, ", statement {s}");
    }
    if !f.evidence.is_empty() {
        let _ = write!(line, ": {}", f.evidence);
    }
    if f.acknowledged {
        line.push_str(" (acknowledged in the migration)");
    }
    let _ = write!(line, ". Safe pattern: {}. {}", f.fix, f.url);
    line
}

fn case(
    out: &mut String,
    db: &str,
    m: &PublicMigration,
    path: Option<&str>,
    findings: &[&PublicFinding],
    check: &dyn Fn(&str) -> String,
) -> bool {
    let _ = write!(
        out,
        "    <testcase classname=\"preflight.{}\" name=\"{}\"",
        xml(&check(db)),
        xml(&check(&m.name))
    );
    if let Some(p) = path {
        let _ = write!(out, " file=\"{}\"", xml(&check(p)));
    }
    let _ = writeln!(out, " time=\"{:.3}\">", m.runtime_s);
    let mut failures = Vec::new();
    if !matches!(m.result, "success" | "skipped") {
        let verb = match m.result {
            "failure" => "failed",
            "timed_out" => "was stopped at the time limit",
            "disk_limit" => "was stopped at the disk limit",
            other => other,
        };
        let mut what = format!("{} {verb}", m.name);
        if let Some(state) = &m.sqlstate {
            let _ = write!(what, " with SQLSTATE {state}");
            if let Some(c) = m.condition {
                let _ = write!(what, " ({c})");
            }
        }
        failures.push((m.result.to_string(), check(&what)));
    }
    let (blocking, others): (Vec<&&PublicFinding>, Vec<&&PublicFinding>) = findings
        .iter()
        .partition(|f| f.severity == "error" && !f.acknowledged);
    for f in blocking {
        failures.push((f.id.to_string(), check(&finding_line(f))));
    }
    if m.result == "skipped" {
        out.push_str("      <skipped message=\"not run: an earlier migration failed\"/>\n");
    } else if let Some((kind, first)) = failures.first() {
        let body: Vec<&str> = failures.iter().map(|(_, t)| t.as_str()).collect();
        let _ = writeln!(
            out,
            "      <failure type=\"{}\" message=\"{}\">{}</failure>",
            xml(kind),
            xml(first),
            xml(&body.join("\n"))
        );
    }
    if !others.is_empty() {
        let lines: Vec<String> = others.iter().map(|f| check(&finding_line(f))).collect();
        let _ = writeln!(
            out,
            "      <system-out>{}</system-out>",
            xml(&lines.join("\n"))
        );
    }
    out.push_str("    </testcase>\n");
    !failures.is_empty() && m.result != "skipped"
}

/// The report; `path_of` gives a migration's file, `check` gates every text.
pub fn junit(
    summary: &PublicSummary,
    path_of: &dyn Fn(&str, &str) -> Option<String>,
    check: &dyn Fn(&str) -> String,
) -> String {
    let mut suites = String::new();
    let (mut tests, mut failed) = (0, 0);
    for db in &summary.databases {
        let mut cases = String::new();
        let (mut db_failed, mut skipped) = (0, 0);
        for m in &db.migrations {
            let findings: Vec<&PublicFinding> = db
                .findings
                .iter()
                .filter(|f| f.migration == m.name)
                .collect();
            let path = path_of(&db.name, &m.name);
            if case(&mut cases, &db.name, m, path.as_deref(), &findings, check) {
                db_failed += 1;
            }
            skipped += usize::from(m.result == "skipped");
        }
        let time: f64 = db.migrations.iter().map(|m| m.runtime_s).sum();
        let _ = write!(
            suites,
            "  <testsuite name=\"preflight: database {}\" tests=\"{}\" failures=\"{db_failed}\" errors=\"0\" skipped=\"{skipped}\" time=\"{time:.3}\">\n{cases}  </testsuite>\n",
            xml(&check(&db.name)),
            db.migrations.len(),
        );
        tests += db.migrations.len();
        failed += db_failed;
    }
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"preflight\" tests=\"{tests}\" failures=\"{failed}\" errors=\"0\">\n{suites}</testsuites>\n"
    )
}
