//! A batched background migration as report.json names it: what the migration declares,
//! each batch that ran on the clone, and what the sampling estimated
//! ([`crate::batched`] does the sampling).

use crate::pg::lock_mode::LockMode;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// What a migration declares.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Batched {
    /// The table the batches walk (`orders`, `app.orders`).
    pub table: String,
    /// Its integer key column, walked in ranges.
    pub key: String,
    /// Rows per batch.
    pub batch_size: u64,
    /// The pause between batches.
    #[serde(default, with = "humantime_serde")]
    pub pause: Duration,
    /// One statement over the key range `:start` (inclusive) to `:end` (exclusive).
    pub statement: String,
}

/// One batch that ran.
#[derive(Debug, Clone, Serialize)]
pub struct BatchSample {
    pub start: i64,
    pub end: i64,
    pub ms: f64,
    pub rows: u64,
    pub wal_bytes: i64,
    /// Table locks it held at its end.
    pub locks: Vec<(String, LockMode)>,
}

/// What the sampling found and estimated.
#[derive(Debug, Clone, Serialize)]
pub struct BatchedReport {
    pub declared: Batched,
    /// Rows in the table, and its key range.
    pub rows: i64,
    pub key_min: i64,
    pub key_max: i64,
    /// Batches the whole job takes.
    pub batches: u64,
    pub samples: Vec<BatchSample>,
    /// Every batch ran: the total is measured.
    pub complete: bool,
    /// The whole job's measured time, pauses included, when every batch ran.
    pub measured_s: Option<f64>,
    /// The first this many batches made the estimate.
    pub estimated_from: usize,
    /// The whole job's time, pauses included, with its interval (every batch as fast as
    /// the fastest sample / as slow as the slowest).
    pub estimate_s: f64,
    pub low_s: f64,
    pub high_s: f64,
    pub wal_estimate_bytes: f64,
    /// The plan of a batch reads the table sequentially (no index on the key range).
    pub seq_scan: bool,
    /// Why sampling stopped early (a failed batch, the budget).
    pub stopped: Option<String>,
    pub sqlstate: Option<String>,
}
