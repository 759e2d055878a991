//! Watching a migration from outside the box: database size and WAL position before and
//! after, `pg_stat_statements` reset before and read after, and the lock sampler
//! ([`locks`]) while it runs. The observers connect to the clone over TCP with the
//! clone's credentials; the box never sees them.

pub mod disk;
pub mod locks;
pub mod plans;
pub mod queries;
pub mod schema;
pub mod traffic;

use crate::bridge::{BridgeLog, Upstream};
pub use crate::model::observed::StatementStat;
use crate::pg::catalog;
use crate::pg::statement::classify;
use crate::trace::reader::{LockReader, PgLockReader};
use locks::LockSampler;
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

/// State taken before a migration.
pub struct Baseline {
    pub size_bytes: i64,
    pub wal_bytes: i64,
    /// Bytes the database's sessions had written to temporary files.
    pub temp_bytes: i64,
    /// Relations that existed (the sampler's "preexisting").
    pub relations: Arc<HashSet<i64>>,
    pub catalog: catalog::Catalog,
    /// `lock_timeout` where a session does not set it (the role's and database's default).
    pub default_lock_timeout: String,
}

/// What was measured after a migration.
pub struct Measured {
    pub size_bytes: i64,
    pub wal_bytes: i64,
    pub temp_bytes: i64,
    pub statements: Vec<StatementStat>,
    pub catalog: catalog::Catalog,
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

/// [`connect`], then production's session `settings` applied, as the box's sessions
/// start with them (for the sessions that run the MR's own SQL from the host side).
pub async fn connect_with_session(
    up: &Upstream,
    application_name: &str,
    settings: &[(String, String)],
) -> Result<tokio_postgres::Client, ObserveError> {
    let client = connect(up, application_name).await?;
    for (name, value) in settings {
        client
            .execute("SELECT set_config($1, $2, false)", &[name, value])
            .await
            .map_err(err("apply production's session settings"))?;
    }
    Ok(client)
}

/// The SQLSTATE of a server error, if the server sent one.
pub fn sqlstate_of(e: &tokio_postgres::Error) -> Option<String> {
    e.code().map(|c| c.code().to_string())
}

pub struct Observer {
    client: tokio_postgres::Client,
    upstream: Upstream,
    lock_interval: Duration,
    /// Backend pids of the observers' sessions for the current migration (spared at the
    /// disk limit): the observer's own and the tracer's, then the sampler's and the
    /// watchdog's. Reset by [`Observer::before`], so a pid of an ended session is never
    /// spared.
    own_pids: std::sync::Mutex<Vec<i32>>,
    tracer: Arc<PgLockReader>,
    /// The in-session event trigger is installed (needs a superuser).
    pub event_trigger: bool,
    /// The clone's PostgreSQL version (`server_version`, e.g. `15.8`).
    pub server_version: String,
}

/// How long [`Observer::after`] waits for the migration's sessions to end.
const SESSIONS_END: Duration = Duration::from_secs(2);

/// The observer's and the tracer's sessions, kept across migrations.
const STANDING_PIDS: usize = 2;

impl Observer {
    pub async fn connect(up: &Upstream, lock_interval: Duration) -> Result<Observer, ObserveError> {
        let client = connect(up, "preflight-observer").await?;
        let pid = disk::own_pid(&client).await?;
        let tracer_client = connect(up, "preflight-tracer").await?;
        let tracer_pid = disk::own_pid(&tracer_client).await?;
        let tracer = PgLockReader::new(tracer_client)
            .await
            .map_err(err("prepare the tracer"))?;
        let event_trigger = match client
            .batch_execute(crate::trace::event_trigger::INSTALL)
            .await
        {
            Ok(()) => true,
            Err(e) => {
                tracing::info!(
                    "no in-session lock trace (boundary reads and the catalog diff only): {}",
                    crate::error_chain(&e)
                );
                false
            }
        };
        let server_version: String = client
            .query_one("SELECT current_setting('server_version')", &[])
            .await
            .map_err(err("read the server version"))?
            .get(0);
        Ok(Observer {
            server_version,
            client,
            upstream: up.clone(),
            lock_interval,
            own_pids: std::sync::Mutex::new(vec![pid, tracer_pid]),
            tracer: Arc::new(tracer),
            event_trigger,
        })
    }

    /// The clone as the observers reach it (the migration role's credentials).
    pub fn upstream(&self) -> &Upstream {
        &self.upstream
    }

    /// The application's schema by name, as committed now (the way back compares two).
    pub async fn schema(&self) -> Result<schema::Schema, ObserveError> {
        schema::Schema::read(&self.client)
            .await
            .map_err(err("read the schema"))
    }

    /// Gives the migration role production's privileges (see
    /// [`crate::pg::migration_role::shape`]), through the observer's own session.
    pub async fn shape_role(
        &self,
        role: &crate::pg::migration_role::MigrationRole,
    ) -> Result<(), crate::pg::migration_role::RoleError> {
        crate::pg::migration_role::shape(&self.client, role).await
    }

    /// Reads a box session's locks at statement boundaries, for the bridge.
    pub fn lock_reader(&self) -> Arc<dyn LockReader> {
        self.tracer.clone()
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
        self.own_pids
            .lock()
            .expect("pid list")
            .truncate(STANDING_PIDS);
        let catalog = catalog::Catalog::read(&self.client)
            .await
            .map_err(err("read the catalog"))?;
        let baseline = Baseline {
            size_bytes: self.scalar(queries::DATABASE_SIZE, "database size").await?,
            wal_bytes: self.scalar(queries::WAL_LSN, "WAL position").await?,
            temp_bytes: self.scalar(queries::TEMP_BYTES, "temporary bytes").await?,
            relations: Arc::new(catalog.relations.keys().copied().collect()),
            catalog,
            default_lock_timeout: self
                .client
                .query_one(queries::LOCK_TIMEOUT, &[])
                .await
                .map_err(err("lock_timeout"))?
                .get(0),
        };
        self.client
            .execute(queries::RESET_STATEMENTS, &[])
            .await
            .map_err(err("reset pg_stat_statements"))?;
        Ok(baseline)
    }

    /// Starts the traffic generator for one migration (None when it is off); its
    /// sessions count as the observer's own.
    pub async fn start_traffic(
        &self,
        section: &traffic::TrafficSection,
    ) -> Result<Option<traffic::Traffic>, ObserveError> {
        let Some((traffic, pids)) = traffic::Traffic::start(&self.upstream, section).await? else {
            return Ok(None);
        };
        self.own_pids.lock().expect("pid list").extend(pids);
        Ok(Some(traffic))
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

    /// Waits (at most [`SESSIONS_END`]) until the migration's sessions have ended, so
    /// their statistics (temporary files) are reported.
    async fn sessions_ended(&self) {
        let started = std::time::Instant::now();
        let own = self.own_pids();
        while started.elapsed() < SESSIONS_END {
            match self
                .client
                .query_one(queries::OTHER_SESSIONS, &[&own])
                .await
            {
                Ok(row) if row.get::<_, i64>(0) > 0 => {
                    tokio::time::sleep(Duration::from_millis(10)).await
                }
                _ => return,
            }
        }
        tracing::debug!(
            "a session of the migration is still open; its temporary files may not count"
        );
    }

    /// Reads size, WAL position and the statements run since [`Observer::before`].
    pub async fn after(&self) -> Result<Measured, ObserveError> {
        self.sessions_ended().await;
        let rows = self
            .client
            .query(
                queries::statements_for(crate::pg::majors::parse_major(&self.server_version))
                    .as_ref(),
                &[],
            )
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
            temp_bytes: self.scalar(queries::TEMP_BYTES, "temporary bytes").await?,
            statements,
            catalog: catalog::Catalog::read(&self.client)
                .await
                .map_err(err("read the catalog"))?,
        })
    }
}
