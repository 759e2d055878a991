//! Findings: what a migration will do to production, each with an id from the registry
//! ([`registry`]), the object, the measured evidence next to the threshold it was
//! compared with, and the safe pattern.
//!
//! The rules ([`rules`]) read one migration's run: the exact trace (statements and lock
//! spans), the catalog before and after, the statement statistics and totals. Rules of
//! judgement (dangers.md): nothing a migration does to a relation it created itself is
//! flagged; every finding rests on evidence from the run; static findings say so;
//! thresholds come from trusted configuration; a finding the migration's source
//! acknowledges (`-- preflight: allow PF-I01 reason: ...`) is shown as acknowledged.

pub mod batched;
pub mod plans;
pub mod registry;
pub mod rules;
pub mod sql;

pub mod verdict;

use crate::model::MigrationOutcome;
pub use crate::model::{Evidence, Finding, Impact, RuleId, Severity, StatementRef};
use crate::observe::locks::LockHold;
use crate::observe::StatementStat;
use crate::pg::catalog::Catalog;
use crate::trace::timeline::{LockSpan, Timeline, TracedStatement};
pub use registry::{Rule, RULES};

/// Where `st` stands in the migration's file.
pub fn statement_ref(st: &TracedStatement) -> StatementRef {
    StatementRef {
        number: st.number,
        line: st.line,
        kind: st.kind.clone(),
        trace_index: st.index,
    }
}

/// A finding of `id` on `object`, attributed to a statement when one is known, with the
/// registry's severity.
pub fn finding(
    id: RuleId,
    object: impl Into<String>,
    statement: Option<&TracedStatement>,
) -> Finding {
    let rule = registry::rule_by_id(id);
    Finding {
        id,
        severity: rule.severity,
        object: object.into(),
        also: Vec::new(),
        statement: statement.map(statement_ref),
        evidence: Vec::new(),
        impact: Impact::default(),
        is_static: rule.is_static,
        acknowledged: false,
        acknowledged_reason: None,
    }
}

/// What a lock span says about a cause: its mode and hold time, on its table.
pub trait LockEvidence {
    /// The lock's mode and how long it was held (against `threshold`), and what the
    /// application felt from it.
    fn held(self, span: &LockSpan, threshold: Option<f64>) -> Self;
}

impl LockEvidence for Finding {
    fn held(self, span: &LockSpan, threshold: Option<f64>) -> Self {
        let e = Evidence::new(format!("{} held", span.mode.sql_name()), span.held_ms, "ms");
        let e = match threshold {
            Some(t) => e.against(t),
            None => e,
        };
        self.with(e.on(&span.table)).impact(span_impact(span))
    }
}

/// What the application felt from one lock on a table that existed before.
pub fn span_impact(span: &LockSpan) -> Impact {
    if !span.preexisting {
        return Impact::default();
    }
    Impact {
        reads_blocked_ms: if span.mode.blocks_reads() {
            span.held_ms
        } else {
            0.0
        },
        writes_blocked_ms: if span.mode.blocks_writes() {
            span.held_ms
        } else {
            0.0
        },
    }
}

pub use crate::config::sections::Thresholds;

/// Everything the rules read about one migration.
pub struct Input<'a> {
    pub outcome: MigrationOutcome,
    pub sqlstate: Option<&'a str>,
    pub wall_s: f64,
    pub wal_bytes: i64,
    pub trace: &'a Timeline,
    pub stats: &'a [StatementStat],
    /// What the lock sampler caught.
    pub sampled: &'a [LockHold],
    pub before: &'a Catalog,
    pub after: &'a Catalog,
    /// `lock_timeout` where the session did not set one.
    pub default_lock_timeout: &'a str,
    pub post_deploy: bool,
    pub thresholds: &'a Thresholds,
    /// The database the migration is for, and which database owns which tables.
    pub database: &'a str,
    pub owners: &'a crate::config::table_owners::TableOwners,
    /// What the generated traffic felt, when it ran.
    pub traffic: Option<&'a crate::observe::traffic::TrafficReport>,
}

impl<'a> Input<'a> {
    pub fn statement(&self, index: usize) -> Option<&'a TracedStatement> {
        self.trace.statements.get(index.checked_sub(1)?)
    }

    /// Locks that block the application, on relations that existed before.
    pub fn blocking_spans(&self) -> impl Iterator<Item = &'a LockSpan> {
        self.trace
            .locks
            .iter()
            .filter(|s| s.preexisting && s.mode.blocks_writes())
    }

    /// The strongest blocking lock on `table` (or its indexes), and the statement that
    /// took it first.
    pub fn strongest_on(&self, table: i64) -> Option<&'a LockSpan> {
        self.blocking_spans()
            .filter(|s| s.table_oid == table)
            .max_by(|a, b| {
                a.mode
                    .cmp(&b.mode)
                    .then(b.statement_index.cmp(&a.statement_index))
            })
    }

    /// A table that existed before the migration began.
    pub fn preexisting(&self, oid: i64) -> bool {
        self.before.relations.contains_key(&oid)
    }
}

/// `-- preflight: allow PF-I01 reason: ...` lines of a migration's source: id and reason.
pub fn acknowledgements(source: &str) -> Vec<(String, String)> {
    source
        .lines()
        .filter_map(|line| {
            let rest = line.trim().strip_prefix("--")?.trim();
            let rest = rest.strip_prefix("preflight:")?.trim();
            let rest = rest.strip_prefix("allow")?.trim();
            let (id, reason) = rest.split_once("reason:")?;
            let reason = reason.trim();
            (!reason.is_empty()).then(|| (id.trim().to_string(), reason.to_string()))
        })
        .collect()
}

/// Every cause of one migration, worst first, acknowledged ones marked.
pub fn analyze(input: &Input<'_>, source: &str) -> Vec<Finding> {
    let mut findings = rules::all(input);
    acknowledge(&mut findings, source);
    findings
}

/// Marks the findings `source` acknowledges, and ranks them worst first.
pub fn acknowledge(findings: &mut [Finding], source: &str) {
    let acks = acknowledgements(source);
    for f in findings.iter_mut() {
        if let Some((_, reason)) = acks.iter().find(|(id, _)| f.id == id.as_str()) {
            f.acknowledged = true;
            f.acknowledged_reason = Some(reason.clone());
        }
    }
    crate::model::rank(findings);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acknowledgements_need_an_id_and_a_reason() {
        let src = "-- preflight: allow PF-I01 reason: the table is empty in production\n\
                   --preflight: allow PF-L01 reason:\n\
                   CREATE INDEX i ON t (a); -- not an acknowledgement";
        assert_eq!(
            acknowledgements(src),
            vec![(
                "PF-I01".to_string(),
                "the table is empty in production".to_string()
            )]
        );
    }
}
