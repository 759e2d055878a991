//! The lock sampler: its own connection (tagged `preflight-lock-sampler`), polling
//! `pg_locks` every few milliseconds for the relation locks the box's sessions hold.
//! Each (relation, mode) becomes one hold with the time it was first and last seen, so
//! a hold time is accurate to about one sampling interval.

use super::queries;
use crate::bridge::BridgeLog;
pub use crate::model::observed::LockHold;
use crate::pg::lock_mode::LockMode;
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Why the sampler has no holds to give.
#[derive(Debug, thiserror::Error)]
pub enum SamplerError {
    #[error("the lock sampler stopped: {0}")]
    Task(#[from] tokio::task::JoinError),
    #[error("the lock sampler's query failed: {0}")]
    Query(#[from] tokio_postgres::Error),
}

pub struct LockSampler {
    stop: oneshot::Sender<()>,
    task: JoinHandle<Result<Vec<LockHold>, tokio_postgres::Error>>,
}

#[derive(Debug)]
struct Seen {
    relation: String,
    relkind: String,
    first: Duration,
    last: Duration,
}

impl LockSampler {
    /// Starts sampling on `client` (a connection of its own) until [`LockSampler::finish`].
    pub fn start(
        client: tokio_postgres::Client,
        bridge: Arc<BridgeLog>,
        preexisting: Arc<HashSet<i64>>,
        interval: Duration,
    ) -> LockSampler {
        let (stop, mut stopped) = oneshot::channel();
        let task = tokio::spawn(async move {
            let statement = client.prepare(queries::LOCKS).await?;
            let started = Instant::now();
            let mut seen: BTreeMap<(i64, LockMode), Seen> = BTreeMap::new();
            let mut ticker = tokio::time::interval(interval);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            loop {
                tokio::select! {
                    _ = &mut stopped => break,
                    _ = ticker.tick() => {}
                }
                let pids = bridge.live_pids();
                if pids.is_empty() {
                    continue;
                }
                let now = started.elapsed();
                for row in client.query(&statement, &[&pids]).await? {
                    let oid: i64 = row.get(1);
                    let Some(mode) = LockMode::from_pg(row.get(2)) else {
                        continue;
                    };
                    seen.entry((oid, mode))
                        .and_modify(|s| s.last = now)
                        .or_insert_with(|| Seen {
                            relation: row.get(3),
                            relkind: row.get(4),
                            first: now,
                            last: now,
                        });
                }
            }
            Ok(seen
                .into_iter()
                .map(|((oid, mode), s)| LockHold {
                    relation: s.relation,
                    relkind: s.relkind,
                    mode,
                    first_seen_ms: s.first.as_secs_f64() * 1000.0,
                    held_ms: (s.last - s.first + interval).as_secs_f64() * 1000.0,
                    preexisting: preexisting.contains(&oid),
                })
                .collect())
        });
        LockSampler { stop, task }
    }

    /// Stops sampling and returns the holds, strongest and longest first.
    pub async fn finish(self) -> Result<Vec<LockHold>, SamplerError> {
        let _ = self.stop.send(());
        let mut holds = self.task.await??;
        holds.sort_by(|a, b| b.mode.cmp(&a.mode).then(b.held_ms.total_cmp(&a.held_ms)));
        Ok(holds)
    }
}
