//! What the observers measured of one migration, as report.json names it: the
//! statistics of its statements, the locks the sampler saw, what the generated traffic
//! felt, the plans of the declared queries, and what a way back left different
//! ([`crate::observe`] measures them).

use crate::pg::lock_mode::LockMode;
use crate::pg::statement::Classified;
use serde::Serialize;

/// One row of `pg_stat_statements`, with the text understood by the parser.
#[derive(Debug, Clone, Serialize)]
pub struct StatementStat {
    /// The raw text as pg_stat_statements keeps it (full report only).
    pub query: String,
    pub classified: Classified,
    pub calls: i64,
    pub total_ms: f64,
    pub mean_ms: f64,
    pub max_ms: f64,
    pub rows: i64,
}

/// One lock the migration held.
#[derive(Debug, Clone, Serialize)]
pub struct LockHold {
    pub relation: String,
    pub relkind: String,
    pub mode: LockMode,
    /// Milliseconds from the migration's start to the first sample that saw it.
    pub first_seen_ms: f64,
    /// From the first to the last sample that saw it, plus one interval.
    pub held_ms: f64,
    /// The relation existed before the migration began (others are invisible to the
    /// application until the migration commits).
    pub preexisting: bool,
}

/// What the traffic felt during one migration.
#[derive(Debug, Clone, Serialize, Default, PartialEq)]
pub struct TrafficReport {
    pub rate_per_second: u32,
    /// The tables it went to.
    pub tables: Vec<String>,
    pub sent: u64,
    /// Statements that took longer than `wait_ms`.
    pub waited: u64,
    /// Statements past the application's timeout.
    pub over_timeout: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// Statements that failed for another reason (a session the migration ended, ...).
    pub errors: u64,
}

/// One node of a plan, flattened.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PlanNode {
    /// `Seq Scan`, `Index Scan`, `Hash Join`, ...
    pub node_type: String,
    pub relation: Option<String>,
    pub index: Option<String>,
    /// Rows it returned, over all its loops.
    pub rows: f64,
    /// Rows the planner expected, over all its loops.
    pub estimated: f64,
    /// Rows it read: returned plus removed by its filter, over all its loops.
    pub scanned: f64,
}

/// A measured plan.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub nodes: Vec<PlanNode>,
    pub execution_ms: f64,
    /// Shared buffers hit and read by the whole plan.
    pub buffers: i64,
    /// The plan as the server gave it (the full report only).
    pub json: serde_json::Value,
}

/// Why a query could not be planned.
#[derive(Debug, Clone, Serialize)]
pub struct PlanFailure {
    pub sqlstate: Option<String>,
    /// The server's message (the full report only).
    pub message: String,
}

/// How the schema after a down differs from the schema before its up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    /// The up made it and the down left it.
    Left,
    /// It was there before the up and is gone after the down.
    Missing,
    /// It is there in both, defined differently.
    Changed,
}

/// One object the way back did not restore.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Difference {
    pub change: Change,
    /// `table`, `column`, `index`, `constraint`, `function`, ...
    pub kind: String,
    /// Qualified (`public.orders_total_idx`, `public.orders.note`).
    pub name: String,
    /// The definitions before and after (full report only).
    pub before: Option<String>,
    pub after: Option<String>,
}

/// How a query did after the migrations, compared with before.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Slower, or more buffers, or a new sequential scan or misestimate.
    Regressed,
    /// Faster and no more buffers, by the same factor.
    Improved,
    Unchanged,
    /// It ran before but fails after.
    Broke,
    /// It could not be planned before the migrations (nothing to compare).
    NotPlanned,
}
