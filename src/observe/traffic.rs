//! Traffic while a migration runs: what the running application would have felt. A
//! generator sends primary-key reads and single-row writes to the largest tables that
//! existed before the migration, at a configured rate, from sessions of its own, and
//! measures each statement from the moment it was due (so a statement queued behind a
//! blocked one counts its queueing too). "ACCESS EXCLUSIVE for 120 ms" becomes "at 200
//! statements per second, 24 waited, up to 130 ms".
//!
//! The writes are `DELETE ... WHERE <key> = $1 AND false`: they take the ROW EXCLUSIVE
//! lock a real write takes, so they queue exactly where one would, but change no row and
//! write no WAL, so the migration's own size and WAL figures stay its own. Every
//! statement carries a marker comment the statement statistics leave out.

use super::{connect, disk, ObserveError};
use crate::bridge::Upstream;
use crate::pg::catalog::USER_SCHEMAS;
use hdrhistogram::Histogram;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;

/// Every generated statement starts with this (pg_stat_statements keeps comments).
pub const MARKER: &str = "/* preflight traffic */";

pub use crate::config::sections::TrafficSection;
pub use crate::model::observed::TrafficReport;

/// One table's statements, built with the server's own quoting.
#[derive(Debug, Clone)]
struct Target {
    table: String,
    read: String,
    write: String,
    keys: Vec<String>,
}

/// The tables and keys: up to `limit` largest tables with a one-column primary key, up
/// to 200 keys each, every identifier quoted by the server. Reads name the key column,
/// not `*`: a prepared `SELECT *` fails once a migration adds a column (0A000), which is
/// the application's own choice of query, not the lock's doing.
fn targets_query() -> String {
    format!(
        "SELECT format('%I.%I', n.nspname, c.relname), \
        format('SELECT %I FROM %I.%I WHERE %I = $1::text::%s', a.attname, n.nspname, c.relname, \
               a.attname, format_type(a.atttypid, a.atttypmod)), \
        format('DELETE FROM %I.%I WHERE %I = $1::text::%s AND false', n.nspname, c.relname, \
               a.attname, format_type(a.atttypid, a.atttypmod)), \
        format('SELECT %I::text FROM %I.%I LIMIT 200', a.attname, n.nspname, c.relname) \
     FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid \
     JOIN pg_namespace n ON n.oid = c.relnamespace \
     JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = i.indkey[0] \
     WHERE i.indisprimary AND i.indnatts = 1 AND c.relkind IN ('r', 'p') \
       AND {USER_SCHEMAS} \
     ORDER BY pg_relation_size(c.oid) DESC LIMIT $1"
    )
}

async fn targets(db: &tokio_postgres::Client, limit: usize) -> Result<Vec<Target>, ObserveError> {
    let rows = db
        .query(&targets_query(), &[&(limit as i64)])
        .await
        .map_err(super::err("choose the traffic's tables"))?;
    let mut out = Vec::new();
    for r in rows {
        let keys: Vec<String> = db
            .query(&r.get::<_, String>(3), &[])
            .await
            .map_err(super::err("read the traffic's keys"))?
            .iter()
            .map(|k| k.get(0))
            .collect();
        if !keys.is_empty() {
            out.push(Target {
                table: r.get(0),
                read: format!("{MARKER} {}", r.get::<_, String>(1)),
                write: format!("{MARKER} {}", r.get::<_, String>(2)),
                keys,
            });
        }
    }
    Ok(out)
}

/// The generator running during one migration.
pub struct Traffic {
    stop: CancellationToken,
    tasks: tokio::task::JoinSet<()>,
    latencies: Arc<Mutex<Histogram<u64>>>,
    counts: Arc<Mutex<(u64, u64)>>,
    section: TrafficSection,
    tables: Vec<String>,
}

impl Traffic {
    /// Starts the traffic (None when it is off or no table qualifies); its sessions'
    /// pids are returned for the observer's own list.
    pub async fn start(
        up: &Upstream,
        section: &TrafficSection,
    ) -> Result<Option<(Traffic, Vec<i32>)>, ObserveError> {
        if section.rate_per_second == 0 || section.connections == 0 {
            return Ok(None);
        }
        let first = connect(up, "preflight-traffic").await?;
        let targets = Arc::new(targets(&first, section.tables).await?);
        if targets.is_empty() {
            return Ok(None);
        }
        let timeout_ms = (section.timeout.as_millis() * 10).max(1000);
        let mut sessions = vec![first];
        for _ in 1..section.connections {
            sessions.push(connect(up, "preflight-traffic").await?);
        }
        let mut pids = Vec::new();
        for s in &sessions {
            // A statement never outlives ten application timeouts.
            s.batch_execute(&format!("SET statement_timeout = {timeout_ms}"))
                .await
                .map_err(super::err("set the traffic's statement timeout"))?;
            pids.push(disk::own_pid(s).await?);
        }
        let stop = CancellationToken::new();
        let latencies = Arc::new(Mutex::new(
            Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).expect("histogram bounds"),
        ));
        let counts = Arc::new(Mutex::new((0u64, 0u64)));
        let (due_tx, due_rx) = async_channel();
        let mut tasks = tokio::task::JoinSet::new();
        for session in sessions {
            let (rx, latencies, counts) = (due_rx.clone(), latencies.clone(), counts.clone());
            tasks.spawn(async move {
                while let Ok((due, sql, key)) = rx.recv().await {
                    let ended = session.execute(sql.as_str(), &[&key]).await;
                    let micros = due.elapsed().as_micros().max(1) as u64;
                    let _ = latencies.lock().await.record(micros);
                    let mut c = counts.lock().await;
                    c.0 += 1;
                    if ended.is_err() {
                        c.1 += 1;
                    }
                }
            });
        }
        let interval = Duration::from_secs_f64(1.0 / f64::from(section.rate_per_second));
        let (scheduler_stop, plan) = (stop.clone(), targets.clone());
        tasks.spawn(async move {
            let mut ticker = tokio::time::interval(interval);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
            let mut n = 0usize;
            loop {
                tokio::select! {
                    _ = scheduler_stop.cancelled() => break,
                    at = ticker.tick() => {
                        let t = &plan[n % plan.len()];
                        let key = t.keys[(n / plan.len()) % t.keys.len()].clone();
                        let sql = if n % 2 == 0 { t.read.clone() } else { t.write.clone() };
                        if due_tx.send((at.into_std(), sql, key)).await.is_err() {
                            break;
                        }
                        n += 1;
                    }
                }
            }
            due_tx.close();
        });
        let tables = targets.iter().map(|t| t.table.clone()).collect();
        Ok(Some((
            Traffic {
                stop,
                tasks,
                latencies,
                counts,
                section: section.clone(),
                tables,
            },
            pids,
        )))
    }

    /// Stops sending, lets the statements in flight end, and says what they felt.
    pub async fn finish(mut self) -> TrafficReport {
        self.stop.cancel();
        while self.tasks.join_next().await.is_some() {}
        let h = self.latencies.lock().await;
        let (sent, errors) = *self.counts.lock().await;
        let ms = |micros: u64| micros as f64 / 1000.0;
        let count_over = |limit_ms: f64| {
            h.iter_recorded()
                .filter(|v| ms(v.value_iterated_to()) > limit_ms)
                .map(|v| v.count_at_value())
                .sum::<u64>()
        };
        TrafficReport {
            rate_per_second: self.section.rate_per_second,
            tables: self.tables.clone(),
            sent,
            waited: count_over(self.section.wait_ms),
            over_timeout: count_over(self.section.timeout.as_secs_f64() * 1000.0),
            p50_ms: ms(h.value_at_quantile(0.5)),
            p99_ms: ms(h.value_at_quantile(0.99)),
            max_ms: ms(h.max()),
            errors,
        }
    }
}

type Due = (Instant, String, String);

/// A channel many sessions take statements from (tokio's mpsc has one receiver).
fn async_channel() -> (Sender, Receiver) {
    let (tx, rx) = tokio::sync::mpsc::channel::<Due>(100_000);
    let rx = Arc::new(Mutex::new(rx));
    (Sender(Some(tx)), Receiver(rx))
}

struct Sender(Option<tokio::sync::mpsc::Sender<Due>>);

impl Sender {
    async fn send(&self, due: Due) -> Result<(), ()> {
        match &self.0 {
            Some(tx) => tx.send(due).await.map_err(|_| ()),
            None => Err(()),
        }
    }

    fn close(mut self) {
        self.0.take();
    }
}

#[derive(Clone)]
struct Receiver(Arc<Mutex<tokio::sync::mpsc::Receiver<Due>>>);

impl Receiver {
    async fn recv(&self) -> Result<Due, ()> {
        self.0.lock().await.recv().await.ok_or(())
    }
}
