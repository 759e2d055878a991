//! Observation sessions, as DLE's CI checker uses them (`/observation/start`, `/stop`,
//! `/summary`, `/download`): while the checker runs its migrations against a clone, the
//! engine watches the clone from a superuser session of its own.
//!
//! Every `observation_interval` seconds (and once more at the stop) it looks for what
//! DLE calls dangerous: an ACCESS EXCLUSIVE relation lock held by another session whose
//! statement has run longer than `max_lock_duration`. An interval that saw one carries
//! the locks as a warning. At the stop the session is judged as DLE judges it (no
//! warning interval, shorter than `max_duration`, no `overall_error` from the caller)
//! and its summary and artifacts (database size and its change, object sizes, statement
//! and table statistics) are kept in memory until the clone is deleted.

use super::state::StatusCode;
use super::{Engine, EngineError};
use crate::dle_api::{
    self, ObservationConfig, ObservationInterval, ObservationSession, SummaryArtifact,
};
use crate::observe::queries;
use chrono::Utc;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// DLE's defaults (`internal/observer/observer.go`), in seconds.
const DEFAULT_INTERVAL: u64 = 10;
const DEFAULT_MAX_LOCK: u64 = 10;
const DEFAULT_MAX_DURATION: u64 = 3600;

/// DLE's lock query: ACCESS EXCLUSIVE relation locks of other sessions whose statement
/// has run longer than `$1` seconds, one JSON object each.
const DANGEROUS_LOCKS: &str =
    "SELECT coalesce(string_agg(row_to_json(d)::text, E'\\n'), '') FROM ( \
    SELECT a.datname, l.relation::regclass::text AS relation, l.mode, l.locktype, l.granted, \
           a.usename, a.query, a.state, a.wait_event_type, a.wait_event, a.pid, \
           (clock_timestamp() - a.xact_start)::text AS xact_duration, \
           (clock_timestamp() - a.query_start)::text AS query_duration \
    FROM pg_stat_activity a JOIN pg_locks l ON l.pid = a.pid \
    WHERE l.mode = 'AccessExclusiveLock' AND l.locktype = 'relation' \
      AND a.pid <> pg_backend_pid() \
      AND clock_timestamp() - a.query_start > make_interval(secs => $1::float8) \
    ORDER BY a.query_start) d";

/// Sizes of the user's relations, summed (DLE's `objects_stat`). Read from the catalog's
/// page counts, not `pg_total_relation_size`, which waits for a lock the observed
/// migration may hold.
const OBJECTS_STAT: &str = "SELECT count(*)::int8, coalesce(sum(greatest(c.reltuples, 0)), 0)::int8, \
    (coalesce(sum(c.relpages::int8 + coalesce(t.relpages, 0) + coalesce(i.pages, 0)), 0) * current_setting('block_size')::int8)::int8, \
    (coalesce(sum(c.relpages::int8 + coalesce(t.relpages, 0)), 0) * current_setting('block_size')::int8)::int8, \
    (coalesce(sum(coalesce(i.pages, 0)), 0) * current_setting('block_size')::int8)::int8, \
    (coalesce(sum(coalesce(t.relpages, 0)), 0) * current_setting('block_size')::int8)::int8 \
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
    LEFT JOIN pg_class t ON t.oid = nullif(c.reltoastrelid, 0) \
    LEFT JOIN LATERAL (SELECT sum(ic.relpages)::int8 AS pages FROM pg_index x \
                       JOIN pg_class ic ON ic.oid = x.indexrelid WHERE x.indrelid = c.oid) i ON true \
    WHERE c.relkind IN ('r', 'p', 'm') \
      AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'";

/// The observer's session never waits long: a lock it needs may be the migration's.
const GUARDS: &str = "SET lock_timeout = '2s'; SET statement_timeout = '30s'";

/// Artifacts a finished session offers for download (DLE's names), each with the query
/// that makes it, a JSON array.
const ARTIFACTS: &[(&str, &str)] = &[
    (
        "pg_stat_statements",
        "SELECT coalesce(json_agg(s), '[]')::text FROM pg_stat_statements s \
         WHERE s.dbid = (SELECT oid FROM pg_database WHERE datname = current_database())",
    ),
    (
        "pg_stat_database",
        "SELECT coalesce(json_agg(s), '[]')::text FROM pg_stat_database s \
         WHERE s.datname = current_database()",
    ),
    (
        "pg_stat_user_tables",
        "SELECT coalesce(json_agg(s), '[]')::text FROM pg_stat_user_tables s",
    ),
    (
        "objects_size",
        "SELECT coalesce(json_agg(o), '[]')::text FROM ( \
            SELECT n.nspname AS schema, c.relname AS name, c.relkind AS kind, \
                   c.reltuples::int8 AS row_estimate, \
                   c.relpages::int8 * current_setting('block_size')::int8 AS table_bytes \
            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
            WHERE c.relkind IN ('r', 'p', 'm') \
              AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
              AND n.nspname NOT LIKE 'pg_toast%' ORDER BY 5 DESC) o",
    ),
];

/// One clone's sessions: the one running, and the finished ones.
#[derive(Default)]
struct CloneSessions {
    running: Option<Running>,
    finished: BTreeMap<u64, Finished>,
}

struct Running {
    session: ObservationSession,
    db: Arc<tokio_postgres::Client>,
    initial_size: i64,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<Result<Vec<ObservationInterval>, tokio_postgres::Error>>,
}

struct Finished {
    summary: SummaryArtifact,
    artifacts: BTreeMap<String, String>,
}

/// Every clone's observation sessions (in memory: an engine restart forgets them).
#[derive(Default)]
pub struct Observations {
    clones: tokio::sync::Mutex<HashMap<String, CloneSessions>>,
    next_id: AtomicU64,
}

fn not_found() -> EngineError {
    EngineError::NotFound(dle_api::NOT_FOUND_MESSAGE.into())
}

fn with_defaults(c: ObservationConfig) -> ObservationConfig {
    let or = |v: u64, d: u64| if v == 0 { d } else { v };
    ObservationConfig {
        observation_interval: or(c.observation_interval, DEFAULT_INTERVAL),
        max_lock_duration: or(c.max_lock_duration, DEFAULT_MAX_LOCK),
        max_duration: or(c.max_duration, DEFAULT_MAX_DURATION),
    }
}

/// Sizes as DLE's summary shows them (`pg_size_pretty`'s units).
fn pretty_bytes(n: i64) -> String {
    let units = ["bytes", "kB", "MB", "GB", "TB"];
    let mut v = n.unsigned_abs() as f64;
    let mut unit = 0;
    while v >= 10240.0 && unit + 1 < units.len() {
        v /= 1024.0;
        unit += 1;
    }
    let sign = if n < 0 { "-" } else { "" };
    format!("{sign}{} {}", v.round() as u64, units[unit])
}

fn seconds_text(s: f64) -> String {
    format!("{s:.3}s")
}

async fn text(db: &tokio_postgres::Client, sql: &str) -> Result<String, tokio_postgres::Error> {
    db.query_one(sql, &[]).await.map(|r| r.get(0))
}

async fn database_size(db: &tokio_postgres::Client) -> Result<i64, tokio_postgres::Error> {
    db.query_one(queries::DATABASE_SIZE, &[])
        .await
        .map(|r| r.get(0))
}

/// Looks for dangerous locks every interval until stopped, then once more.
async fn watch(
    db: Arc<tokio_postgres::Client>,
    config: ObservationConfig,
    stop: CancellationToken,
) -> Result<Vec<ObservationInterval>, tokio_postgres::Error> {
    let every = Duration::from_secs(config.observation_interval);
    let mut intervals = Vec::new();
    let mut started = Utc::now();
    loop {
        let stopped = tokio::select! {
            _ = stop.cancelled() => true,
            _ = tokio::time::sleep(every) => false,
        };
        let warning: String = db
            .query_one(DANGEROUS_LOCKS, &[&(config.max_lock_duration as f64)])
            .await
            .map(|r| r.get(0))?;
        let now = Utc::now();
        intervals.push(ObservationInterval {
            started_at: Some(started),
            duration: (now - started).num_milliseconds() as f64 / 1000.0,
            warning,
        });
        started = now;
        if stopped {
            return Ok(intervals);
        }
    }
}

impl Engine {
    /// Starts watching a ready clone; one session per clone at a time.
    pub async fn start_observation(
        &self,
        req: dle_api::StartObservationRequest,
    ) -> Result<ObservationSession, EngineError> {
        let clone = self
            .get_clone(&req.clone_id)
            .await
            .map_err(|_| not_found())?;
        let port = match (clone.status.code, clone.port) {
            (StatusCode::Ok, Some(port)) => port,
            _ => {
                return Err(EngineError::BadRequest(format!(
                    "clone {:?} is {}; observe it once it is OK",
                    clone.id,
                    clone.status.code.as_str()
                )))
            }
        };
        let db_name = dle_api::blank(&req.db_name).unwrap_or(&clone.db.db_name);
        let observations = &self.inner.observations;
        let mut clones = observations.clones.lock().await;
        let sessions = clones.entry(clone.id.clone()).or_default();
        if let Some(r) = &sessions.running {
            return Err(EngineError::BadRequest(format!(
                "clone {:?} is already observed by session {}; stop it first",
                clone.id, r.session.session_id
            )));
        }
        let db = self
            .clone_server(&clone.id, port)
            .connect(port, db_name)
            .await
            .map_err(|e| EngineError::BadRequest(format!("cannot observe {db_name:?}: {e}")))?;
        db.batch_execute(GUARDS)
            .await
            .map_err(EngineError::internal)?;
        let initial_size = database_size(&db).await.map_err(EngineError::internal)?;
        // Statistics start afresh, as DLE's observer resets them; a clone without
        // pg_stat_statements simply has no statement artifact.
        let _ = db.batch_execute("SELECT pg_stat_reset()").await;
        let _ = db.batch_execute(queries::RESET_STATEMENTS).await;
        let config = with_defaults(req.config);
        let session = ObservationSession {
            session_id: observations.next_id.fetch_add(1, Ordering::Relaxed) + 1,
            started_at: Some(Utc::now()),
            finished_at: None,
            config,
            tags: req.tags.unwrap_or_default(),
            artifacts: Vec::new(),
            result: None,
        };
        let db = Arc::new(db);
        let stop = CancellationToken::new();
        let task = tokio::spawn(watch(db.clone(), config, stop.clone()));
        tracing::info!(clone = %clone.id, session = session.session_id, "observation started");
        sessions.running = Some(Running {
            session: session.clone(),
            db,
            initial_size,
            stop,
            task,
        });
        Ok(session)
    }

    /// Stops the clone's session, judges it, and keeps its summary and artifacts.
    pub async fn stop_observation(
        &self,
        req: dle_api::StopObservationRequest,
    ) -> Result<ObservationSession, EngineError> {
        let running = {
            let mut clones = self.inner.observations.clones.lock().await;
            clones
                .get_mut(&req.clone_id)
                .and_then(|s| s.running.take())
                .ok_or_else(not_found)?
        };
        running.stop.cancel();
        let intervals = match running.task.await {
            Ok(Ok(intervals)) => intervals,
            Ok(Err(e)) => {
                return Err(EngineError::BadRequest(format!(
                    "the observation of clone {:?} ended early: {}",
                    req.clone_id,
                    crate::error_chain(&e)
                )))
            }
            Err(e) => return Err(EngineError::internal(e)),
        };
        let db = running.db;
        let mut session = running.session;
        let finished_at = Utc::now();
        session.finished_at = Some(finished_at);
        let total = session.started_at.map_or(0.0, |s| {
            (finished_at - s).num_milliseconds() as f64 / 1000.0
        });
        let warnings = intervals.iter().filter(|i| !i.warning.is_empty()).count() as u64;
        let checklist = dle_api::ObservationChecklist {
            overall_success: !req.overall_error,
            session_duration_acceptable: (total as u64) < session.config.max_duration,
            no_long_dangerous_locks: warnings == 0,
        };
        let passed = checklist.overall_success
            && checklist.session_duration_acceptable
            && checklist.no_long_dangerous_locks;
        session.result = Some(dle_api::ObservationResult {
            status: if passed { "passed" } else { "failed" }.into(),
            summary: dle_api::ObservationSummary {
                total_duration: total,
                total_intervals: intervals.len() as u64,
                warning_intervals: warnings,
                checklist,
            },
            intervals,
        });
        let mut artifacts = BTreeMap::new();
        // A clone without pg_stat_statements simply has no such artifact.
        for (kind, sql) in ARTIFACTS {
            if let Ok(json) = text(&db, sql).await {
                artifacts.insert(kind.to_string(), json);
            }
        }
        session.artifacts = artifacts.keys().cloned().collect();
        let summary = self
            .summarize(&db, &req.clone_id, &session, running.initial_size, warnings)
            .await
            .map_err(EngineError::internal)?;
        tracing::info!(
            clone = %req.clone_id,
            session = session.session_id,
            passed,
            "observation stopped"
        );
        let mut clones = self.inner.observations.clones.lock().await;
        clones
            .entry(req.clone_id.clone())
            .or_default()
            .finished
            .insert(session.session_id, Finished { summary, artifacts });
        Ok(session)
    }

    async fn summarize(
        &self,
        db: &tokio_postgres::Client,
        clone_id: &str,
        session: &ObservationSession,
        initial_size: i64,
        warnings: u64,
    ) -> Result<SummaryArtifact, tokio_postgres::Error> {
        let size = database_size(db).await?;
        let objects = db.query_one(OBJECTS_STAT, &[]).await?;
        let column = |i: usize| objects.try_get::<_, i64>(i).unwrap_or(0);
        let longest_ms: f64 = db
            .query_one(
                "SELECT coalesce(max(max_exec_time), 0) FROM pg_stat_statements \
                 WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())",
                &[],
            )
            .await
            .map(|r| r.get(0))
            .unwrap_or(0.0);
        let result = session.result.as_ref();
        Ok(SummaryArtifact {
            session_id: session.session_id,
            clone_id: clone_id.into(),
            duration: dle_api::SummaryDuration {
                total: seconds_text(result.map_or(0.0, |r| r.summary.total_duration)),
                started_at: session.started_at,
                finished_at: session.finished_at,
                query_duration_longest: seconds_text(longest_ms / 1000.0),
            },
            db_size: dle_api::SummaryDbSize {
                total: pretty_bytes(size),
                diff: pretty_bytes(size - initial_size),
                objects_stat: dle_api::ObjectsStat {
                    count: column(0),
                    row_estimate_sum: column(1),
                    total_size_bytes_sum: column(2),
                    table_size_bytes_sum: column(3),
                    indexes_size_bytes_sum: column(4),
                    toast_size_bytes_sum: column(5),
                },
            },
            locks: dle_api::SummaryLocks {
                total_interval: result.map_or(0, |r| r.summary.total_intervals),
                warning_interval: warnings,
            },
            log_errors: dle_api::SummaryLogErrors::default(),
            artifact_types: session.artifacts.clone(),
        })
    }

    pub async fn observation_summary(
        &self,
        clone_id: &str,
        session_id: u64,
    ) -> Result<SummaryArtifact, EngineError> {
        let clones = self.inner.observations.clones.lock().await;
        clones
            .get(clone_id)
            .and_then(|s| s.finished.get(&session_id))
            .map(|f| f.summary.clone())
            .ok_or_else(not_found)
    }

    /// One artifact of a finished session, as JSON text.
    pub async fn observation_artifact(
        &self,
        clone_id: &str,
        session_id: u64,
        kind: &str,
    ) -> Result<String, EngineError> {
        if !ARTIFACTS.iter().any(|(name, _)| *name == kind) {
            return Err(EngineError::BadRequest(format!(
                "artifact {kind:?} is not available to download; available: {}",
                ARTIFACTS
                    .iter()
                    .map(|(name, _)| *name)
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        let clones = self.inner.observations.clones.lock().await;
        clones
            .get(clone_id)
            .and_then(|s| s.finished.get(&session_id))
            .and_then(|f| f.artifacts.get(kind).cloned())
            .ok_or_else(not_found)
    }

    /// A deleted clone's sessions go with it.
    pub(crate) async fn forget_observations(&self, clone_id: &str) {
        let removed = self.inner.observations.clones.lock().await.remove(clone_id);
        if let Some(Running { stop, task, .. }) = removed.and_then(|s| s.running) {
            stop.cancel();
            task.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_config_takes_dles_defaults() {
        let c = with_defaults(ObservationConfig::default());
        assert_eq!(
            (c.observation_interval, c.max_lock_duration, c.max_duration),
            (10, 10, 3600)
        );
        let c = with_defaults(ObservationConfig {
            observation_interval: 1,
            max_lock_duration: 2,
            max_duration: 3,
        });
        assert_eq!(
            (c.observation_interval, c.max_lock_duration, c.max_duration),
            (1, 2, 3)
        );
    }

    #[test]
    fn sizes_read_like_pg_size_pretty() {
        assert_eq!(pretty_bytes(8192), "8192 bytes");
        assert_eq!(pretty_bytes(10 * 1024 * 1024), "10 MB");
        assert_eq!(pretty_bytes(-20480), "-20 kB");
    }
}
