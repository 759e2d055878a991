//! A migration's verdict, the one line a reviewer reads first, and the order of its
//! causes: what the application would feel, worst first.
//!
//! The verdict names the table the application could not use for longest, how long, and
//! the statements that ran while it was blocked (longest first). The causes are ranked
//! by [`rank`]: failures and drops that cannot be undone first, then measured blocking
//! time weighted by what it blocks, then severity, then their place in the file.

use super::finding::{Finding, RuleId};
use serde::Serialize;

/// A statement that ran while the verdict's table was blocked.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Contributor {
    /// Its SQL command (`REINDEX`).
    pub kind: String,
    /// The relation it acts on, when it names one.
    pub object: Option<String>,
    /// Its number in the file, when the file holds it.
    pub number: Option<usize>,
    pub ms: f64,
}

/// The longest blocking of one table that existed before the migration.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Blocking {
    pub table: String,
    /// Reads were blocked too (ACCESS EXCLUSIVE), not only writes.
    pub reads: bool,
    pub held_ms: f64,
    /// The statements that ran while it was blocked, longest first (at most three).
    pub during: Vec<Contributor>,
    /// Other tables blocked at some time during the migration.
    pub other_tables: usize,
}

/// One migration's verdict: what the application would feel (its causes, ranked, are
/// the migration's findings).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Verdict {
    /// The table blocked longest, when any was.
    pub blocking: Option<Blocking>,
}

/// Rank tiers: what cannot be taken back comes before what only waits.
fn tier(id: RuleId) -> u8 {
    match id {
        RuleId::F01 => 0,
        RuleId::S02 | RuleId::S04 | RuleId::K01 => 1,
        _ => 2,
    }
}

/// Sorts causes worst first: failures and irreversible drops, then measured blocking
/// (weighted by what it blocks), then severity, then the file's order.
pub fn rank(findings: &mut [Finding]) {
    findings.sort_by(|a, b| {
        (a.acknowledged)
            .cmp(&b.acknowledged)
            .then(tier(a.id).cmp(&tier(b.id)))
            .then(b.impact.weight().total_cmp(&a.impact.weight()))
            .then(b.severity.cmp(&a.severity))
            .then(a.statement_number().cmp(&b.statement_number()))
            .then(a.id.cmp(&b.id))
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Impact, Severity};

    fn finding(id: RuleId, severity: Severity, blocked_ms: f64) -> Finding {
        Finding {
            id,
            severity,
            object: String::new(),
            also: vec![],
            statement: None,
            evidence: vec![],
            impact: Impact {
                reads_blocked_ms: blocked_ms,
                writes_blocked_ms: blocked_ms,
            },
            is_static: false,
            acknowledged: false,
            acknowledged_reason: None,
        }
    }

    #[test]
    fn failures_and_drops_come_first_then_blocking_time() {
        let mut f = vec![
            finding(RuleId::L01, Severity::Warning, 10.0),
            finding(RuleId::L03, Severity::Error, 98_000.0),
            finding(RuleId::S02, Severity::Warning, 0.0),
            finding(RuleId::T04, Severity::Info, 0.0),
            finding(RuleId::F01, Severity::Error, 0.0),
            finding(RuleId::I01, Severity::Error, 10.0),
        ];
        f[5].acknowledged = true;
        rank(&mut f);
        let ids: Vec<&str> = f.iter().map(|f| f.id.as_str()).collect();
        assert_eq!(
            ids,
            ["PF-F01", "PF-S02", "PF-L03", "PF-L01", "PF-T04", "PF-I01"]
        );
    }
}
