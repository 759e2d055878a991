//! The note's findings, per migration: its verdict (what the application would feel, in
//! one line) and then its causes, worst first. Within the note's row budget every
//! migration with a cause shows at least its worst one; the budget's rest goes round
//! the migrations, worst causes first. Counts of what was left out are rounded like
//! every other number, so the gate lets them through.
//!
//! Names follow the public summary's rule: an object, a table in a verdict, a file
//! path appear only where the MR's source spells every part of them.

use super::rounding::{count, duration_ms, duration_s, size};
use super::source_words::SourceWords;
use crate::analyze::registry::rule_by_id;
use crate::model::{Finding, Verdict};
use serde::Serialize;

/// At most this many evidence items and other objects per cause in the note.
const EVIDENCE_SHOWN: usize = 3;

#[derive(Debug, Clone, Serialize)]
pub struct PublicFinding {
    pub id: &'static str,
    pub severity: &'static str,
    pub danger: &'static str,
    pub fix: &'static str,
    /// The finding's page.
    pub url: String,
    pub migration: String,
    /// The object, when the MR's source spells every part of its name.
    pub object: Option<String>,
    /// Other objects the same cause acts on that the source spells (at most three) ...
    pub also: Vec<String>,
    /// ... and how many more, rounded ("" when none).
    pub also_more: String,
    /// `3 (CREATE INDEX)`: the statement's number in the file and its kind.
    pub statement: Option<String>,
    /// `db/migrations/0003_x/up.sql:12`, when the file holds the statement.
    pub location: Option<String>,
    /// The line, for reporters that take one.
    pub line: Option<usize>,
    /// Rounded measurements with their thresholds.
    pub evidence: String,
    pub acknowledged: bool,
    pub is_static: bool,
}

/// A statement that ran while the verdict's table was blocked.
#[derive(Debug, Clone, Serialize)]
pub struct PublicContributor {
    pub kind: String,
    pub object: Option<String>,
    pub number: Option<usize>,
    pub time: String,
}

/// The verdict's blocking, rounded and with names the source spells.
#[derive(Debug, Clone, Serialize)]
pub struct PublicBlocking {
    /// `reads and writes` or `writes`.
    pub blocks: &'static str,
    pub table: Option<String>,
    pub held: String,
    pub during: Vec<PublicContributor>,
    /// Other tables blocked during the migration, rounded ("" when none).
    pub other_tables: String,
}

/// A migration's verdict line and its causes.
#[derive(Debug, Clone, Serialize)]
pub struct PublicVerdict {
    pub migration: String,
    pub blocking: Option<PublicBlocking>,
    /// How many causes it has (rounded).
    pub causes: String,
    pub causes_total: usize,
    /// Its worst causes, worst first.
    pub shown: Vec<PublicFinding>,
    /// Causes left out of the note, rounded ("" when none).
    pub more: String,
    pub more_total: usize,
    /// Causes of its down, which runs only to roll back (rounded; "" when none): the
    /// full report and the reporters list them.
    pub down_causes: String,
}

/// A measurement, rounded, in the unit it was taken in.
fn measurement(value: f64, unit: &str) -> String {
    match unit {
        _ if value == 0.0 => "0".into(),
        "ms" => duration_ms(value),
        "s" => duration_s(value),
        "bytes" => size(value.max(0.0) as u64),
        _ => count(value.round() as i64),
    }
}

/// A name the source spells in every part, else none.
fn known(name: &str, words: &SourceWords) -> Option<String> {
    (!name.is_empty() && name != "migration" && name.split('.').all(|part| words.knows(part)))
        .then(|| name.to_string())
}

/// A rounded count, or "" for none.
fn more(n: usize) -> String {
    if n == 0 {
        String::new()
    } else {
        count(n as i64)
    }
}

/// One finding as the note shows it; `path` is the migration's file.
pub fn public_finding(
    f: &Finding,
    migration: &str,
    path: Option<&str>,
    words: &SourceWords,
    docs_url: &str,
) -> PublicFinding {
    let rule = rule_by_id(f.id);
    let mut evidence: Vec<String> = f
        .evidence
        .iter()
        .take(EVIDENCE_SHOWN)
        .map(|e| {
            let mut text = format!("{} {}", e.measure, measurement(e.value, e.unit));
            if let Some(o) = e.object.as_deref().and_then(|o| known(o, words)) {
                text = format!("{} on {o} {}", e.measure, measurement(e.value, e.unit));
            }
            if let Some(t) = e.threshold {
                text.push_str(&format!(" (threshold {})", measurement(t, e.unit)));
            }
            text
        })
        .collect();
    if f.evidence.len() > EVIDENCE_SHOWN {
        evidence.push(format!(
            "{} more",
            count((f.evidence.len() - EVIDENCE_SHOWN) as i64)
        ));
    }
    let also: Vec<String> = f.also.iter().filter_map(|o| known(o, words)).collect();
    let statement = f.statement.as_ref();
    let line = statement.and_then(|s| s.line);
    PublicFinding {
        id: f.id.as_str(),
        severity: f.severity.name(),
        danger: rule.danger,
        fix: rule.fix,
        url: format!("{docs_url}/{}.md", f.id.as_str()),
        migration: migration.to_string(),
        object: known(&f.object, words),
        also_more: more(f.also.len() - also.len().min(EVIDENCE_SHOWN)),
        also: also.into_iter().take(EVIDENCE_SHOWN).collect(),
        statement: statement.and_then(|s| s.number.map(|n| format!("{n} ({})", s.kind))),
        location: path.zip(line).map(|(p, l)| format!("{p}:{l}")),
        line,
        evidence: evidence.join("; "),
        acknowledged: f.acknowledged,
        is_static: f.is_static,
    }
}

/// A migration's verdict with all its causes (`findings`, ranked), none cut yet.
pub fn verdict(
    migration: &str,
    verdict: &Verdict,
    findings: Vec<PublicFinding>,
    words: &SourceWords,
) -> PublicVerdict {
    let blocking = verdict.blocking.as_ref().map(|b| PublicBlocking {
        blocks: if b.reads {
            "reads and writes"
        } else {
            "writes"
        },
        table: known(&b.table, words),
        held: duration_ms(b.held_ms),
        during: b
            .during
            .iter()
            .map(|c| PublicContributor {
                kind: c.kind.clone(),
                object: c.object.as_deref().and_then(|o| known(o, words)),
                number: c.number,
                time: duration_ms(c.ms),
            })
            .collect(),
        other_tables: more(b.other_tables),
    });
    PublicVerdict {
        migration: migration.to_string(),
        blocking,
        causes: count(findings.len() as i64),
        causes_total: findings.len(),
        shown: findings,
        more: String::new(),
        more_total: 0,
        down_causes: String::new(),
    }
}

/// Keeps at most `budget` cause rows over all `verdicts`: first each migration's worst
/// cause, then round the migrations again, until the budget is spent; what is left out
/// is counted on its verdict.
pub fn fit<'a>(verdicts: impl IntoIterator<Item = &'a mut PublicVerdict>, budget: usize) {
    let mut verdicts: Vec<&mut PublicVerdict> = verdicts.into_iter().collect();
    let mut keep = vec![0usize; verdicts.len()];
    let mut left = budget;
    loop {
        let before = left;
        for (k, v) in keep.iter_mut().zip(verdicts.iter()) {
            if left > 0 && *k < v.shown.len() {
                *k += 1;
                left -= 1;
            }
        }
        if left == 0 || left == before {
            break;
        }
    }
    for (k, v) in keep.into_iter().zip(verdicts.iter_mut()) {
        drop_to(v, k);
    }
}

/// Leaves `keep` causes shown on `v`, counting the rest.
pub fn drop_to(v: &mut PublicVerdict, keep: usize) {
    if v.shown.len() > keep {
        v.more_total += v.shown.len() - keep;
        v.shown.truncate(keep);
        v.more = more(v.more_total);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdict_with(n: usize) -> PublicVerdict {
        let f = PublicFinding {
            id: "PF-L01",
            severity: "warning",
            danger: "",
            fix: "",
            url: String::new(),
            migration: String::new(),
            object: None,
            also: vec![],
            also_more: String::new(),
            statement: None,
            location: None,
            line: None,
            evidence: String::new(),
            acknowledged: false,
            is_static: false,
        };
        PublicVerdict {
            migration: String::new(),
            blocking: None,
            causes: count(n as i64),
            causes_total: n,
            shown: vec![f; n],
            more: String::new(),
            more_total: 0,
            down_causes: String::new(),
        }
    }

    #[test]
    fn every_migration_keeps_its_worst_cause_and_the_rest_shares_the_budget() {
        let mut v: Vec<PublicVerdict> = [236, 1, 3, 50].map(verdict_with).to_vec();
        fit(v.iter_mut(), 10);
        let shown: Vec<usize> = v.iter().map(|v| v.shown.len()).collect();
        assert_eq!(shown, [3, 1, 3, 3]);
        assert_eq!(v[0].more, "230");
        assert_eq!(v[3].more_total, 47);
        let mut many: Vec<PublicVerdict> = (0..50).map(|_| verdict_with(2)).collect();
        fit(many.iter_mut(), 40);
        assert_eq!(many.iter().filter(|v| v.shown.is_empty()).count(), 10);
    }
}
