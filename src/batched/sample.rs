//! Sampling a declared batched migration on the clone, right after the migration that
//! declares it: the key range is read, then batches spread over it (positions 0, 1, 1/2,
//! 1/4, 3/4, 1/8, ...) run one by one, each in its own committed transaction as
//! production's worker would run it, each with its time, rows, WAL and the table locks
//! it held at its end, within `batches.budget` and `batches.samples`. A batch ends
//! `batch_size` rows after its start, as key-walking batchers cut them. A job of at most
//! `batches.whole_up_to` batches runs whole, in the same spread order, so its measured
//! total stands beside the estimate its first `samples` batches gave.
//! The statement runs as the migration role, with production's session settings, on a
//! session of its own.

use super::declaration::{quoted, Batched};
use crate::bridge::Upstream;
use crate::pg::lock_mode::LockMode;
use std::time::{Duration, Instant};

pub use crate::config::sections::BatchesSection;
pub use crate::model::batched::{BatchSample, BatchedReport};

/// Where in the key range the `n` first samples go: 0, 1, 1/2, 1/4, 3/4, 1/8, ...
pub fn positions(n: usize) -> Vec<f64> {
    let mut out = vec![0.0, 1.0];
    let mut d = 2u32;
    while out.len() < n {
        out.extend((1..d).step_by(2).map(|k| f64::from(k) / f64::from(d)));
        d *= 2;
    }
    out.truncate(n);
    out
}

fn sql_error(e: &tokio_postgres::Error) -> (String, Option<String>) {
    (crate::error_chain(e), crate::observe::sqlstate_of(e))
}

/// Why a batched job could not be sampled (the migration's report then has no estimate).
#[derive(Debug, thiserror::Error)]
pub enum SampleError {
    #[error("cannot connect to the clone")]
    Connect(#[source] crate::observe::ObserveError),
    #[error("{what}: {message}")]
    Sql { what: &'static str, message: String },
}

impl SampleError {
    fn sql(what: &'static str) -> impl FnOnce(tokio_postgres::Error) -> SampleError {
        move |e| SampleError::Sql {
            what,
            message: sql_error(&e).0,
        }
    }
}

/// Samples `b` on the clone `up` as production's sessions start (`session`).
pub async fn sample(
    up: &Upstream,
    session: &[(String, String)],
    b: &Batched,
    limits: &BatchesSection,
) -> Result<BatchedReport, SampleError> {
    let client = crate::observe::connect_with_session(up, "preflight-batches", session)
        .await
        .map_err(SampleError::Connect)?;
    let (table, key) = (quoted(&b.table), quoted(&b.key));
    let range = client
        .query_one(
            &format!("SELECT min({key})::int8, max({key})::int8, count(*) FROM {table}"),
            &[],
        )
        .await
        .map_err(SampleError::sql("the batched job's key range"))?;
    let (key_min, key_max, rows): (Option<i64>, Option<i64>, i64) =
        (range.get(0), range.get(1), range.get(2));
    let (key_min, key_max) = (key_min.unwrap_or(0), key_max.unwrap_or(-1));
    let batches = (rows.max(0) as u64).div_ceil(b.batch_size);
    let boundary = client
        .prepare(&format!(
            "SELECT {key}::int8 FROM {table} WHERE {key} >= $1::int8 ORDER BY {key} OFFSET $2 LIMIT 1"
        ))
        .await
        .map_err(SampleError::sql("the batch boundaries"))?;
    let statement = client
        .prepare(&b.bound_statement())
        .await
        .map_err(SampleError::sql("the batched statement"))?;
    let whole = batches as usize <= limits.whole_up_to;
    // (start, end) of each batch to run, in the order they run.
    let mut ranges: Vec<(i64, Option<i64>)> = Vec::new();
    if whole {
        let mut walk = Vec::new();
        let mut start = key_min;
        while rows > 0 && start <= key_max {
            let end = end_of(&client, &boundary, start, b.batch_size, key_max).await?;
            walk.push((start, Some(end)));
            start = end;
        }
        let n = walk.len();
        let mut order: Vec<usize> = positions(n)
            .into_iter()
            .map(|f| (f * n.saturating_sub(1) as f64).round() as usize)
            .collect();
        order.extend(0..n);
        let mut seen = std::collections::HashSet::new();
        ranges = order
            .into_iter()
            .filter(|i| seen.insert(*i))
            .map(|i| walk[i])
            .collect();
    } else if rows > 0 {
        let span = (key_max - key_min) as f64 * (1.0 - 1.0 / batches as f64);
        ranges = positions(limits.samples)
            .into_iter()
            .map(|f| (key_min + (f * span) as i64, None))
            .collect();
    }
    let started = Instant::now();
    let mut samples = Vec::new();
    let (mut stopped, mut sqlstate) = (None, None);
    for (start, end) in ranges {
        let left = limits.budget.saturating_sub(started.elapsed());
        if left.is_zero() {
            stopped = Some("the time budget (batches.budget) ran out".into());
            break;
        }
        let end = match end {
            Some(end) => end,
            None => end_of(&client, &boundary, start, b.batch_size, key_max).await?,
        };
        match one_batch(&client, &statement, start, end, left).await {
            Ok(s) => samples.push(s),
            Err((why, code)) => {
                stopped = Some(why);
                sqlstate = code;
                break;
            }
        }
    }
    let seq_scan = match samples.first() {
        Some(s) => reads_sequentially(&client, b, s.start, s.end).await,
        None => false,
    };
    Ok(estimate(
        BatchedReport {
            declared: b.clone(),
            rows,
            key_min,
            key_max,
            batches,
            complete: whole && stopped.is_none(),
            measured_s: None,
            estimated_from: 0,
            samples,
            estimate_s: 0.0,
            low_s: 0.0,
            high_s: 0.0,
            wal_estimate_bytes: 0.0,
            seq_scan,
            stopped,
            sqlstate,
        },
        limits.samples,
    ))
}

/// The key `batch_size` rows after `start` (the end of its batch, exclusive).
async fn end_of(
    client: &tokio_postgres::Client,
    boundary: &tokio_postgres::Statement,
    start: i64,
    batch_size: u64,
    key_max: i64,
) -> Result<i64, SampleError> {
    let offset = batch_size as i64;
    let row = client
        .query_opt(boundary, &[&start, &offset])
        .await
        .map_err(SampleError::sql("the end of a batch"))?;
    Ok(row.map_or(key_max + 1, |r| r.get(0)))
}

/// Runs one batch in its own transaction, committed.
async fn one_batch(
    client: &tokio_postgres::Client,
    statement: &tokio_postgres::Statement,
    start: i64,
    end: i64,
    left: Duration,
) -> Result<BatchSample, (String, Option<String>)> {
    let wal = crate::observe::queries::WAL_LSN;
    let fail = |e: tokio_postgres::Error| sql_error(&e);
    let wal_before: i64 = client.query_one(wal, &[]).await.map_err(fail)?.get(0);
    client.batch_execute("BEGIN").await.map_err(fail)?;
    let ms = left.as_millis().max(1).to_string();
    let run = async {
        client
            .execute("SELECT set_config('statement_timeout', $1, true)", &[&ms])
            .await?;
        let t = Instant::now();
        let rows = client.execute(statement, &[&start, &end]).await?;
        let elapsed = t.elapsed().as_secs_f64() * 1000.0;
        let locks = client
            .query(
                "SELECT c.relname::text, l.mode FROM pg_locks l JOIN pg_class c ON c.oid = l.relation \
                 WHERE l.pid = pg_backend_pid() AND l.locktype = 'relation' AND c.relkind IN ('r', 'p', 'm')",
                &[],
            )
            .await?;
        client.batch_execute("COMMIT").await?;
        Ok::<_, tokio_postgres::Error>((rows, elapsed, locks))
    };
    let (rows, elapsed, locks) = match run.await {
        Ok(done) => done,
        Err(e) => {
            let _ = client.batch_execute("ROLLBACK").await;
            return Err(fail(e));
        }
    };
    let wal_after: i64 = client.query_one(wal, &[]).await.map_err(fail)?.get(0);
    Ok(BatchSample {
        start,
        end,
        ms: elapsed,
        rows,
        wal_bytes: wal_after - wal_before,
        locks: locks
            .iter()
            .filter_map(|r| Some((r.get(0), LockMode::from_pg(r.get(1))?)))
            .collect(),
    })
}

/// Whether the plan of the batch `start..end` reads the job's table sequentially.
async fn reads_sequentially(
    client: &tokio_postgres::Client,
    b: &Batched,
    start: i64,
    end: i64,
) -> bool {
    let explain = format!("EXPLAIN (FORMAT JSON) {}", b.bound_statement());
    let Ok(row) = client.query_one(&explain, &[&start, &end]).await else {
        return false;
    };
    let json: serde_json::Value = row.get(0);
    let table = b.table.rsplit('.').next().unwrap_or_default();
    crate::observe::plans::parse(&json.to_string()).is_some_and(|p| {
        p.nodes
            .iter()
            .any(|n| n.node_type == "Seq Scan" && n.relation.as_deref() == Some(table))
    })
}

/// Fills in the estimate from the first `samples` batches: their mean time times the
/// batches, with the fastest and the slowest as the interval, pauses between batches
/// added; and the measured total when every batch ran.
fn estimate(mut r: BatchedReport, samples: usize) -> BatchedReport {
    let pauses = r.batches.saturating_sub(1) as f64 * r.declared.pause.as_secs_f64();
    let times: Vec<f64> = r.samples.iter().map(|s| s.ms / 1000.0).collect();
    let used = &times[..times.len().min(samples.max(1))];
    if used.is_empty() {
        return r;
    }
    let n = r.batches as f64;
    r.estimated_from = used.len();
    let min = used.iter().copied().fold(f64::INFINITY, f64::min);
    let max = used.iter().copied().fold(0.0, f64::max);
    r.estimate_s = used.iter().sum::<f64>() / used.len() as f64 * n + pauses;
    r.low_s = min * n + pauses;
    r.high_s = max * n + pauses;
    if r.complete {
        r.measured_s = Some(times.iter().sum::<f64>() + pauses);
    }
    let wal: i64 = r.samples.iter().map(|s| s.wal_bytes).sum();
    r.wal_estimate_bytes = wal as f64 / r.samples.len() as f64 * n;
    r
}

#[cfg(test)]
mod tests {
    use super::positions;

    #[test]
    fn samples_spread_over_the_range_ends_first() {
        assert_eq!(positions(7), [0.0, 1.0, 0.5, 0.25, 0.75, 0.125, 0.375]);
        assert_eq!(positions(1), [0.0]);
    }
}
