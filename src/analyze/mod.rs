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
pub mod ownership;
pub mod plans;
pub mod registry;
pub mod rules;
pub mod sql;

pub mod verdict;

use crate::model::MigrationOutcome;
pub use crate::model::{Evidence, Finding, Impact, RuleId, Severity, StatementRef};
use crate::observe::catalog::Catalog;
use crate::observe::locks::LockHold;
use crate::observe::StatementStat;
use crate::trace::timeline::{LockSpan, Timeline, TracedStatement};
pub use registry::{Rule, RULES};
use serde::{Deserialize, Serialize};

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

/// Thresholds, from trusted configuration (`findings:`), with dangers.md's defaults.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Thresholds {
    /// PF-L03: how long a lock that blocks the application may be held.
    pub lock_hold_ms: f64,
    /// PF-D01: a regular migration's wall time.
    pub migration_s: f64,
    /// PF-D02: a post-deploy migration's wall time.
    pub post_deploy_migration_s: f64,
    /// PF-D03: one data statement.
    pub statement_ms: f64,
    /// PF-D03: one concurrent index build.
    pub concurrent_index_s: f64,
    /// PF-B01: rows one statement changes.
    pub rows: f64,
    /// PF-W01: WAL one migration writes.
    pub wal_bytes: f64,
    /// How fast production's replicas replay WAL: a migration's WAL over it estimates
    /// how far they fall behind.
    pub replication_bytes_per_second: f64,
    /// PF-W01: how far behind that estimate may put the replicas.
    pub replica_lag_s: f64,
    /// PF-L04: how long a generated application statement may wait behind the migration.
    pub traffic_wait_ms: f64,
    /// PF-B02: one batch of a batched background migration.
    pub batch_ms: f64,
    /// PF-Q01: rows a new sequential scan of a declared query reads.
    pub plan_seq_scan_rows: f64,
    /// PF-Q02: how many times slower (or more buffers) a declared query may get.
    pub plan_factor: f64,
    /// PF-Q03: how many times off the planner's row estimate may be.
    pub plan_misestimate: f64,
    /// PF-W02: how long hot standbys wait for a conflicting lock before they cancel
    /// their queries (production's `max_standby_streaming_delay`).
    pub standby_delay_ms: f64,
}

/// How long replicas replaying `rate` bytes per second need for `wal_bytes` of WAL:
/// how far behind the primary a burst of it puts them (0 when no rate is known).
pub fn replica_lag_s(wal_bytes: i64, rate: f64) -> f64 {
    if rate > 0.0 {
        wal_bytes.max(0) as f64 / rate
    } else {
        0.0
    }
}

impl Thresholds {
    /// [`replica_lag_s`] at `replication_bytes_per_second`.
    pub fn replica_lag_s(&self, wal_bytes: i64) -> f64 {
        replica_lag_s(wal_bytes, self.replication_bytes_per_second)
    }
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            lock_hold_ms: 1000.0,
            migration_s: 180.0,
            post_deploy_migration_s: 600.0,
            statement_ms: 100.0,
            concurrent_index_s: 300.0,
            rows: 10_000.0,
            wal_bytes: 1024.0 * 1024.0 * 1024.0,
            replication_bytes_per_second: 64.0 * 1024.0 * 1024.0,
            replica_lag_s: 60.0,
            traffic_wait_ms: 500.0,
            batch_ms: 1000.0,
            plan_seq_scan_rows: 10_000.0,
            plan_factor: 2.0,
            plan_misestimate: 100.0,
            standby_delay_ms: 30_000.0,
        }
    }
}

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
    pub owners: &'a ownership::TableOwners,
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
