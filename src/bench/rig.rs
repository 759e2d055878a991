//! A migration run by `psql -f` (as in the box, but on the host) through the bridge, on a
//! fresh clone of one snapshot, either through the plain relay or with everything a
//! rehearsal observes. `preflight bench trace` times the two; the trace-fidelity test
//! compares what the migration itself produced under each (its output, errors, the
//! database it leaves and its `pg_stat_statements` figures).

use crate::bridge::{Bridge, Upstream};
use crate::clone::builtin::BuiltinEngine;
use crate::clone::{CloneEngine, CloneRequest};
use crate::config::file::{BuiltinSection, SourceSection};
use crate::observe::Observer;
use crate::secret::Secret;
use anyhow::{bail, Context, Result};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const DB: &str = "app";
const USER: &str = "bench";
const LOCK_POLL: Duration = Duration::from_millis(1);

/// How the bridge carries the migration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Relay {
    /// Bytes copied after login; nothing observed.
    Plain,
    /// The protocol trace with boundary lock reads, the lock sampler and the disk watch.
    Traced,
}

/// What one migration did and cost.
#[derive(Debug, Clone)]
pub struct Rehearsed {
    pub wall_s: f64,
    /// With a watched lock: from first seeing it granted to a waiting session let through.
    pub lock_hold_s: Option<f64>,
    /// Statements the trace recorded (0 on the plain relay).
    pub traced_statements: usize,
    pub exit_ok: bool,
    pub stdout: String,
    pub stderr: String,
    /// `pg_stat_statements` of the migration (and of the session timing a watched lock):
    /// (query, calls, rows), the observers' and the bridge's own statements left out,
    /// sorted.
    pub statements: Vec<(String, i64, i64)>,
    /// The database the migration left: every user table with its columns, indexes,
    /// constraints and row count.
    pub state: Vec<String>,
}

/// A lock to time from outside: a relation and the mode the migration takes on it.
#[derive(Debug, Clone, Copy)]
pub struct WatchedLock {
    pub table: &'static str,
    pub mode: &'static str,
    /// A mode that conflicts with it, for the waiting session.
    pub conflicting: &'static str,
}

/// An engine with one snapshot, and scratch space for sockets.
pub struct Rig {
    engine: BuiltinEngine,
    psql: PathBuf,
    scratch: tempfile::TempDir,
    /// Generated traffic while a traced migration runs (rate 0: none).
    traffic: crate::observe::traffic::TrafficSection,
}

impl Rig {
    /// Builds the snapshot from `seed_sql` (in a scratch directory under /var/tmp).
    /// `relay_program` is the preflight binary for confined clones' relays (None: the
    /// running one; a test binary names the real one).
    pub async fn new(seed_sql: &str, relay_program: Option<&Path>) -> Result<Rig> {
        Rig::on_major(seed_sql, relay_program, None).await
    }

    /// [`Rig::new`] on PostgreSQL `major` (None: the newest here).
    pub async fn on_major(
        seed_sql: &str,
        relay_program: Option<&Path>,
        major: Option<u32>,
    ) -> Result<Rig> {
        let scratch = tempfile::Builder::new()
            .prefix("preflight-rig-")
            .tempdir_in("/var/tmp")
            .context("create a scratch directory in /var/tmp")?;
        let seed = scratch.path().join("seed.sql");
        std::fs::write(&seed, seed_sql)?;
        let section = BuiltinSection {
            work_dir: scratch.path().join("engine"),
            source: SourceSection::SqlFile { path: seed },
            relay_program: relay_program.map(Path::to_path_buf),
            postgres_major: major,
            ..BuiltinSection::default()
        };
        let engine = BuiltinEngine::new(&section)?;
        engine.prepare(DB).await?;
        Ok(Rig {
            engine,
            psql: {
                let majors = crate::pg::majors::Majors::new(Path::new(crate::pg::majors::PREPARED));
                let newest = majors
                    .newest()
                    .context("no PostgreSQL on this host: install postgresql-15")?;
                majors.bin_dir(newest)?.join("psql")
            },
            scratch,
            traffic: Default::default(),
        })
    }

    /// Runs the traffic generator at `rate_per_second` beside every traced migration.
    pub fn with_traffic(mut self, rate_per_second: u32) -> Rig {
        self.traffic.rate_per_second = rate_per_second;
        self
    }

    /// Writes a migration file into the scratch directory.
    pub fn migration(&self, name: &str, sql: &str) -> Result<PathBuf> {
        let path = self.scratch.path().join(name);
        std::fs::write(&path, sql)?;
        Ok(path)
    }

    /// Runs `file` on a fresh clone; the clone is destroyed whatever happens.
    pub async fn rehearse(
        &self,
        relay: Relay,
        file: &Path,
        watched: Option<WatchedLock>,
    ) -> Result<Rehearsed> {
        let id = format!("rig-{}", Secret::generate(10).expose().to_lowercase());
        let request = CloneRequest {
            id: id.clone(),
            db_name: DB.into(),
            username: USER.into(),
            password: Secret::generate(32),
            restricted: true,
            snapshot: None,
        };
        let clone = self
            .engine
            .create(&request, Duration::from_secs(600))
            .await?;
        let upstream = Upstream::of(&clone);
        let sock = self.scratch.path().join(&id);
        std::fs::create_dir_all(&sock)?;
        let done = self.migrate(relay, file, watched, &upstream, &sock).await;
        let destroyed = self.engine.destroy(&id).await;
        let _ = std::fs::remove_dir_all(&sock);
        let done = done?;
        destroyed?;
        Ok(done)
    }

    async fn migrate(
        &self,
        relay: Relay,
        file: &Path,
        watched: Option<WatchedLock>,
        upstream: &Upstream,
        sock: &Path,
    ) -> Result<Rehearsed> {
        let direct = crate::observe::connect(upstream, "rig").await?;
        let observer = match relay {
            Relay::Plain => None,
            Relay::Traced => Some(Observer::connect(upstream, Duration::from_millis(20)).await?),
        };
        let bridge = match &observer {
            None => Bridge::start_plain(sock, upstream.clone())?,
            Some(o) => Bridge::start(sock, upstream.clone(), Some(o.lock_reader()))?,
        };
        let watching = match &observer {
            None => None,
            Some(o) => {
                let baseline = o.before().await?;
                let sampler = o.sample_locks(bridge.log.clone(), &baseline).await?;
                let traffic = o.start_traffic(&self.traffic).await?;
                Some((sampler, o.disk_watch().await?, traffic))
            }
        };
        direct
            .batch_execute(crate::observe::queries::RESET_STATEMENTS)
            .await?;

        let started = Instant::now();
        let psql = crate::child::async_command(&self.psql)
            .args(["-X", "-v", "ON_ERROR_STOP=1", "-U", USER, "-d", DB, "-h"])
            .arg(sock)
            .arg("-f")
            .arg(file)
            .output();
        let (done_tx, done) = tokio::sync::watch::channel(false);
        let psql = async {
            let out = psql.await;
            let _ = done_tx.send(true);
            out
        };
        let hold = async {
            match watched {
                Some(w) => lock_hold(&direct, w, done).await,
                None => Ok(None),
            }
        };
        let disk_watch = async {
            match &watching {
                Some((_, watch, _)) => watch.exceeded(i64::MAX).await,
                None => std::future::pending().await,
            }
        };
        let (out, lock_hold_s) = tokio::select! {
            (out, hold) = async { tokio::join!(psql, hold) } => (out?, hold?),
            _ = disk_watch => bail!("the disk watch ended without a disk limit"),
        };
        let wall_s = started.elapsed().as_secs_f64();
        let traced_statements = bridge.log.take().statements.len();
        if let Some((sampler, _, traffic)) = watching {
            let _ = sampler.finish().await;
            if let Some(t) = traffic {
                let t = t.finish().await;
                eprintln!(
                    "   traffic beside it: {} statements sent, {} waited, p99 {:.1} ms",
                    t.sent, t.waited, t.p99_ms
                );
            }
        }
        bridge.stop().await;
        Ok(Rehearsed {
            wall_s,
            lock_hold_s,
            traced_statements,
            exit_ok: out.status.success(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            statements: statements(&direct).await?,
            state: state(&direct).await?,
        })
    }
}

/// Waits until some session holds the watched lock, then queues a conflicting lock
/// behind it: the time from first seeing the lock to being let through is its hold.
/// `None` when the migration ended before the lock was seen.
async fn lock_hold(
    client: &tokio_postgres::Client,
    w: WatchedLock,
    done: tokio::sync::watch::Receiver<bool>,
) -> Result<Option<f64>> {
    let seen = loop {
        let held = client
            .query_opt(
                "SELECT 1 FROM pg_locks l JOIN pg_class c ON c.oid = l.relation \
                 WHERE c.relname = $1 AND l.mode = $2 AND l.granted LIMIT 1",
                &[&w.table, &w.mode],
            )
            .await?
            .is_some();
        if held {
            break Instant::now();
        }
        if *done.borrow() {
            return Ok(None);
        }
        tokio::time::sleep(LOCK_POLL).await;
    };
    client
        .batch_execute(&format!(
            "BEGIN; LOCK TABLE {} IN {} MODE",
            w.table, w.conflicting
        ))
        .await?;
    let hold = seen.elapsed().as_secs_f64();
    client.batch_execute("ROLLBACK").await?;
    Ok(Some(hold))
}

async fn statements(client: &tokio_postgres::Client) -> Result<Vec<(String, i64, i64)>> {
    let rows = client
        .query(
            "SELECT query, calls, rows FROM pg_stat_statements \
             WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())",
            &[],
        )
        .await?;
    let mut out: Vec<(String, i64, i64)> = rows
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .filter(|(q, _, _): &(String, i64, i64)| !crate::observe::queries::is_own(q))
        .collect();
    out.sort();
    Ok(out)
}

async fn state(client: &tokio_postgres::Client) -> Result<Vec<String>> {
    let rows = client
        .query(
            "SELECT c.relname || ' ' || c.relkind::text || ' ' || \
                    coalesce((SELECT string_agg(a.attname || ':' || format_type(a.atttypid, a.atttypmod) \
                                 || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END, ', ' ORDER BY a.attnum) \
                              FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped), '') || ' ' || \
                    coalesce((SELECT string_agg(pg_get_constraintdef(k.oid) || CASE WHEN k.convalidated THEN '' ELSE ' NOT VALID' END, ', ' ORDER BY k.conname) \
                              FROM pg_constraint k WHERE k.conrelid = c.oid), '') || ' ' || \
                    coalesce((SELECT string_agg(pg_get_indexdef(i.indexrelid) || CASE WHEN i.indisvalid THEN '' ELSE ' INVALID' END, ', ' ORDER BY i.indexrelid::regclass::text) \
                              FROM pg_index i WHERE i.indrelid = c.oid), '') \
             FROM pg_class c \
             WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm', 'S') \
             ORDER BY c.relname",
            &[],
        )
        .await?;
    let mut out: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
    for table in client
        .query(
            "SELECT relname FROM pg_class WHERE relnamespace = 'public'::regnamespace \
             AND relkind = 'r' ORDER BY relname",
            &[],
        )
        .await?
    {
        let name: String = table.get(0);
        let count: i64 = client
            .query_one(&format!("SELECT count(*) FROM public.\"{name}\""), &[])
            .await?
            .get(0);
        out.push(format!("{name}: {count} rows"));
    }
    Ok(out)
}
