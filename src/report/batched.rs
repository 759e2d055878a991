//! The public view of a sampled batched background migration: how many batches were
//! sampled of how many, their times in buckets, the whole job's estimate with its
//! interval and its basis (rows per batch, key density, pause), and the WAL it will
//! write; numbers rounded, the table's name only where the MR's source spells it.

use super::rounding::{count, duration_ms, duration_s, sig2, size};
use super::source_words::SourceWords;
use crate::model::batched::BatchedReport;
use serde::Serialize;

/// The batch-time buckets of the note's histogram, upper bounds in ms.
pub const BUCKETS_MS: &[f64] = &[10.0, 100.0, 1000.0, 10_000.0, f64::INFINITY];

#[derive(Debug, Clone, Serialize)]
pub struct PublicBatched {
    pub table: Option<String>,
    pub batches: String,
    pub sampled: String,
    /// Every batch ran: the total is measured.
    pub complete: bool,
    pub measured: Option<String>,
    /// Batches the estimate was made from.
    pub estimated_from: String,
    pub estimate: String,
    pub low: String,
    pub high: String,
    pub rows_per_batch: String,
    /// Rows per key value over the key range.
    pub density: String,
    pub pause: String,
    pub wal: String,
    /// Sampled batches per bucket of [`BUCKETS_MS`].
    pub histogram: Vec<usize>,
    pub slowest: String,
    /// Sampling stopped early (a failed batch, the budget).
    pub stopped: bool,
    pub sqlstate: Option<String>,
}

/// The rounded view.
pub fn public(r: &BatchedReport, words: &SourceWords) -> PublicBatched {
    let mut histogram = vec![0; BUCKETS_MS.len()];
    for s in &r.samples {
        let bucket = BUCKETS_MS.iter().position(|b| s.ms < *b).unwrap_or(0);
        histogram[bucket] += 1;
    }
    let span = (r.key_max - r.key_min + 1).max(1) as f64;
    PublicBatched {
        table: words
            .knows(&r.declared.table)
            .then(|| r.declared.table.clone()),
        batches: count(r.batches as i64),
        sampled: count(r.samples.len() as i64),
        complete: r.complete,
        measured: r.measured_s.map(duration_s),
        estimated_from: count(r.estimated_from as i64),
        estimate: duration_s(r.estimate_s),
        low: duration_s(r.low_s),
        high: duration_s(r.high_s),
        rows_per_batch: count(r.declared.batch_size as i64),
        density: sig2(r.rows.max(0) as f64 / span).to_string(),
        pause: duration_ms(r.declared.pause.as_secs_f64() * 1000.0),
        wal: size(r.wal_estimate_bytes.max(0.0) as u64),
        histogram,
        slowest: duration_ms(r.samples.iter().map(|s| s.ms).fold(0.0, f64::max)),
        stopped: r.stopped.is_some(),
        sqlstate: r
            .sqlstate
            .clone()
            .filter(|c| super::sqlstate::is_sqlstate(c)),
    }
}
