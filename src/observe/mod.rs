//! Watching a migration from outside the box: database size and WAL position before and
//! after, `pg_stat_statements` reset before and read after, and the lock sampler
//! ([`locks`]) while it runs. The observers connect to the clone over TCP with the
//! clone's credentials; the box never sees them.

pub mod disk;
pub mod lock_mode;
pub mod locks;
pub mod queries;
pub mod statement;

use crate::bridge::{BridgeLog, Upstream};
use locks::LockSampler;
use serde::Serialize;
use statement::{classify, Classified};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;
use thiserror::Error;

#[derive(Debug, Error)]
#[error("observing the clone failed ({what}): {}", crate::error_chain(.source))]
pub struct ObserveError {
    what: &'static str,
    source: tokio_postgres::Error,
}

fn err(what: &'static str) -> impl FnOnce(tokio_postgres::Error) -> ObserveError {
    move |source| ObserveError { what, source }
}

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

/// State taken before a migration.
pub struct Baseline {
    pub size_bytes: i64,
    pub wal_bytes: i64,
    pub relations: Arc<HashSet<i64>>,
}

/// What was measured after a migration.
pub struct Measured {
    pub size_bytes: i64,
    pub wal_bytes: i64,
    pub statements: Vec<StatementStat>,
}

/// Opens a connection to the clone tagged with `application_name`.
pub async fn connect(
    up: &Upstream,
    application_name: &str,
) -> Result<tokio_postgres::Client, ObserveError> {
    let mut config = tokio_postgres::Config::new();
    config
        .host(&up.host)
        .port(up.port)
        .user(&up.user)
        .password(up.password.expose())
        .dbname(&up.database)
        .application_name(application_name)
        .connect_timeout(Duration::from_secs(10));
    let (client, conn) = config
        .connect(tokio_postgres::NoTls)
        .await
        .map_err(err("connect"))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(client)
}

pub struct Observer {
    client: tokio_postgres::Client,
    upstream: Upstream,
    lock_interval: Duration,
    /// Backend pids of the observers' sessions for the current migration (spared at the
    /// disk limit): the observer's own, then the sampler's and the watchdog's. Reset by
    /// [`Observer::before`], so a pid of an ended session is never spared.
    own_pids: std::sync::Mutex<Vec<i32>>,
}

impl Observer {
    pub async fn connect(up: &Upstream, lock_interval: Duration) -> Result<Observer, ObserveError> {
        let client = connect(up, "preflight-observer").await?;
        let pid = disk::own_pid(&client).await?;
        Ok(Observer {
            client,
            upstream: up.clone(),
            lock_interval,
            own_pids: std::sync::Mutex::new(vec![pid]),
        })
    }

    /// The backend pids of the observers' sessions so far.
    pub fn own_pids(&self) -> Vec<i32> {
        self.own_pids.lock().expect("pid list").clone()
    }

    /// Starts watching the database's size on a connection of its own.
    pub async fn disk_watch(&self) -> Result<disk::DiskWatch, ObserveError> {
        let watch = disk::DiskWatch::connect(&self.upstream).await?;
        let pid = watch.pid().await?;
        self.own_pids.lock().expect("pid list").push(pid);
        Ok(watch)
    }

    async fn scalar(&self, sql: &str, what: &'static str) -> Result<i64, ObserveError> {
        Ok(self
            .client
            .query_one(sql, &[])
            .await
            .map_err(err(what))?
            .get(0))
    }

    /// Records the baseline and resets the statement statistics (a migration starts).
    pub async fn before(&self) -> Result<Baseline, ObserveError> {
        self.own_pids.lock().expect("pid list").truncate(1);
        let relations = self
            .client
            .query(queries::RELATION_OIDS, &[])
            .await
            .map_err(err("list relations"))?
            .iter()
            .map(|r| r.get::<_, i64>(0))
            .collect();
        let baseline = Baseline {
            size_bytes: self.scalar(queries::DATABASE_SIZE, "database size").await?,
            wal_bytes: self.scalar(queries::WAL_LSN, "WAL position").await?,
            relations: Arc::new(relations),
        };
        self.client
            .execute(queries::RESET_STATEMENTS, &[])
            .await
            .map_err(err("reset pg_stat_statements"))?;
        Ok(baseline)
    }

    /// Starts the lock sampler on a connection of its own.
    pub async fn sample_locks(
        &self,
        bridge: Arc<BridgeLog>,
        baseline: &Baseline,
    ) -> Result<LockSampler, ObserveError> {
        let client = connect(&self.upstream, "preflight-lock-sampler").await?;
        let pid = disk::own_pid(&client).await?;
        self.own_pids.lock().expect("pid list").push(pid);
        Ok(LockSampler::start(
            client,
            bridge,
            baseline.relations.clone(),
            self.lock_interval,
        ))
    }

    /// Reads size, WAL position and the statements run since [`Observer::before`].
    pub async fn after(&self) -> Result<Measured, ObserveError> {
        let rows = self
            .client
            .query(queries::STATEMENTS, &[])
            .await
            .map_err(err("read pg_stat_statements"))?;
        let statements = rows
            .iter()
            .filter_map(|r| {
                let query: String = r.get(0);
                if queries::is_own(&query) {
                    return None;
                }
                Some(StatementStat {
                    classified: classify(&query)?,
                    query,
                    calls: r.get(1),
                    total_ms: r.get(2),
                    mean_ms: r.get(3),
                    max_ms: r.get(4),
                    rows: r.get(5),
                })
            })
            .collect();
        Ok(Measured {
            size_bytes: self.scalar(queries::DATABASE_SIZE, "database size").await?,
            wal_bytes: self.scalar(queries::WAL_LSN, "WAL position").await?,
            statements,
        })
    }
}
