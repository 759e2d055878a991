//! The clone engine: snapshots of a PostgreSQL data directory and thin clones of them,
//! one PostgreSQL server per clone, served over the Database Lab clone API
//! (`preflight engine serve`, see [`api`]) or used in-process by `preflight demo`
//! ([`crate::clone::builtin`]).
//!
//! [`Engine`] is the core both use. It owns a pool directory (see
//! [`storage::PoolPaths`]) under an exclusive lock, keeps its state in `state.json`
//! ([`state`]), makes snapshots ([`snapshots`]), runs the clone lifecycle
//! ([`lifecycle`]), adopts or removes what an earlier run left ([`recovery`]) and expires
//! idle and old clones ([`expiry`]). Slow work runs in tasks tracked for a graceful
//! shutdown; the API answers at once with the clone in its transitional status.

pub mod api;
pub mod branches;
pub mod btrfs_loop;
pub mod config;
pub mod expiry;
pub mod lifecycle;
pub mod metrics;
pub mod observation;
pub mod password;
pub mod processes;
pub mod protection;
pub mod recovery;
pub mod relay;
pub mod serve;
pub mod snapshots;
pub mod start;
pub mod state;
pub mod storage;

use crate::pg::server::{PgServer, RunAs};
use chrono::{DateTime, Utc};
use config::EngineConfig;
use state::State;
use std::collections::HashMap;
use std::sync::Arc;
use storage::{Backend, PoolPaths};
use thiserror::Error;
use tokio::sync::Mutex;
use tokio_util::task::TaskTracker;

/// The one branch of the built-in engine's snapshots (DLE's default branch name).
pub const MAIN_BRANCH: &str = "main";

/// What the engine refuses or fails at; each maps to one HTTP status and error code.
#[derive(Debug, Error, Clone)]
pub enum EngineError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    NotFound(String),
    /// Out of clones, ports or disk; no snapshot yet.
    #[error("{0}")]
    Unavailable(String),
    /// The engine's own failure, its cause kept.
    #[error("{0}")]
    Internal(#[source] std::sync::Arc<dyn std::error::Error + Send + Sync>),
}

impl EngineError {
    pub(crate) fn internal(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        EngineError::Internal(std::sync::Arc::from(e.into()))
    }
}

/// How the last snapshot refresh went, for `/status`.
#[derive(Debug, Clone, Default)]
pub struct RefreshStatus {
    pub running: bool,
    pub last_refresh: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
}

pub(crate) struct Inner {
    pub cfg: EngineConfig,
    pub backend: Backend,
    pub paths: PoolPaths,
    pub run_as: RunAs,
    /// Clone servers run confined: a user of their own and no network (needs root).
    pub confined: bool,
    pub state: Mutex<State>,
    /// One lock per clone, held by whichever task is creating, resetting or deleting it.
    pub ops: std::sync::Mutex<HashMap<String, Arc<Mutex<()>>>>,
    pub tasks: TaskTracker,
    pub metrics: metrics::Metrics,
    pub started_at: DateTime<Utc>,
    pub refresh: Mutex<()>,
    pub refresh_status: std::sync::Mutex<RefreshStatus>,
    pub observations: observation::Observations,
    _pool_lock: nix::fcntl::Flock<std::fs::File>,
}

/// The engine; cheap to clone (a handle).
#[derive(Clone)]
pub struct Engine {
    pub(crate) inner: Arc<Inner>,
}

impl Engine {
    /// Opens the pool: takes its lock, loads the state, adopts or removes what an earlier
    /// run left. Does not build a snapshot (see [`Engine::ensure_snapshot`]).
    pub async fn open(cfg: EngineConfig) -> Result<Engine, EngineError> {
        cfg.check()
            .map_err(|e| EngineError::BadRequest(e.to_string()))?;
        let paths = PoolPaths {
            root: cfg.pool_dir.clone(),
        };
        for dir in [
            paths.root.clone(),
            paths.snapshots(),
            paths.clones(),
            paths.root.join("sockets"),
        ] {
            std::fs::create_dir_all(&dir).map_err(|e| {
                EngineError::internal(format!(
                    "cannot create the pool directory {}: {e}",
                    dir.display()
                ))
            })?;
        }
        // Clone servers of their own users must pass through, not list what is there.
        for dir in [
            paths.snapshots(),
            paths.clones(),
            paths.root.join("sockets"),
        ] {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o711)).map_err(
                |e| EngineError::internal(format!("cannot protect {}: {e}", dir.display())),
            )?;
        }
        let pool_lock = lock_pool(&paths)?;
        let backend = Backend::for_pool(&paths.root, cfg.backend).map_err(EngineError::internal)?;
        let run_as = RunAs::detect().map_err(EngineError::internal)?;
        let mut state = State::load(&paths.state_file()).map_err(EngineError::internal)?;
        if state.instance_id.is_empty() {
            use rand::Rng;
            state.instance_id = format!("{:020x}", rand::thread_rng().gen::<u128>() >> 48);
        }
        let engine = Engine {
            inner: Arc::new(Inner {
                cfg,
                backend,
                paths,
                run_as,
                confined: nix::unistd::geteuid().is_root(),
                state: Mutex::new(state),
                ops: Default::default(),
                tasks: TaskTracker::new(),
                metrics: metrics::Metrics::new(),
                started_at: Utc::now(),
                refresh: Mutex::new(()),
                refresh_status: Default::default(),
                observations: Default::default(),
                _pool_lock: pool_lock,
            }),
        };
        engine.recover().await?;
        tracing::info!(
            pool = %engine.inner.paths.root.display(),
            backend = engine.backend().name(),
            "clone engine ready"
        );
        Ok(engine)
    }

    pub fn backend(&self) -> Backend {
        self.inner.backend
    }

    pub fn config(&self) -> &EngineConfig {
        &self.inner.cfg
    }

    /// A copy of the current state.
    pub async fn state(&self) -> State {
        self.inner.state.lock().await.clone()
    }

    /// Reads the current state under its lock, without copying it (the API's views).
    pub async fn read<T>(&self, f: impl FnOnce(&State) -> T) -> T {
        let state = self.inner.state.lock().await;
        f(&state)
    }

    /// Persists the state (call with the state lock held, passing the guarded value).
    pub(crate) fn save(&self, state: &State) -> Result<(), EngineError> {
        state
            .save(&self.inner.paths.state_file())
            .map_err(EngineError::internal)
    }

    /// The server of a clone (its data lives in the clone's storage). A confined one runs
    /// as a user of its own, `clone_uid_base` + its port, so no two live clones share one.
    pub(crate) fn clone_server(&self, id: &str, port: u16) -> PgServer {
        let dir = self.inner.paths.clone_dir(id);
        let confined = self.inner.confined;
        let run_as = if confined {
            let id = self.inner.cfg.clone_uid_base + u32::from(port);
            RunAs { uid: id, gid: id }
        } else {
            self.inner.run_as
        };
        let data_dir = dir.join("data");
        // A clone runs the major of the data it holds.
        PgServer {
            bin_dir: self.bin_dir_for(&data_dir),
            data_dir,
            socket_dir: self.inner.paths.socket_dir(port),
            log_file: dir.join("server.log"),
            run_as,
            confined,
        }
    }

    /// The binaries of the major `data` was made by (or the pinned `pg_bin_dir`); for data
    /// that is gone (a server being stopped while its clone is removed), the default ones.
    pub(crate) fn bin_dir_for(&self, data: &std::path::Path) -> std::path::PathBuf {
        let own = match &self.inner.cfg.pg_bin_dir {
            Some(pinned) => Some(pinned.clone()),
            None => {
                crate::pg::majors::of_data_dir(data).and_then(|major| self.majors().find(major))
            }
        };
        own.or_else(|| self.default_bin_dir().ok())
            .unwrap_or_default()
    }

    /// The binaries for a source without a server: `postgres_major`, else the newest.
    pub fn default_bin_dir(&self) -> Result<std::path::PathBuf, EngineError> {
        let cfg = &self.inner.cfg;
        if let Some(pinned) = &cfg.pg_bin_dir {
            return Ok(pinned.clone());
        }
        let majors = self.majors();
        let major = cfg
            .postgres_major
            .or_else(|| majors.newest())
            .ok_or_else(|| {
                EngineError::Unavailable(
                    "no PostgreSQL on this host: install postgresql-15 or run ops/pg-major.sh 17"
                        .into(),
                )
            })?;
        majors.bin_dir(major).map_err(EngineError::internal)
    }

    pub(crate) fn majors(&self) -> crate::pg::majors::Majors {
        crate::pg::majors::Majors::new(&self.inner.cfg.majors_dir)
    }

    pub(crate) fn op_lock(&self, id: &str) -> Arc<Mutex<()>> {
        self.inner
            .ops
            .lock()
            .expect("op lock map poisoned")
            .entry(id.to_string())
            .or_default()
            .clone()
    }

    /// Stops taking work and waits for creations, resets and deletions in flight.
    /// Clones keep running: the next start adopts them.
    pub async fn shutdown(&self) {
        self.inner.tasks.close();
        self.inner.tasks.wait().await;
        let state = self.inner.state.lock().await;
        if let Err(e) = self.save(&state) {
            tracing::error!(error = %crate::error_chain(&e), "could not save the engine state at shutdown");
        }
    }

    /// Stops every clone and removes it (an in-process engine at the end of its run).
    pub async fn destroy_all(&self) {
        let ids: Vec<String> = self
            .inner
            .state
            .lock()
            .await
            .clones
            .keys()
            .cloned()
            .collect();
        for id in ids {
            let _ = self.delete_clone(&id, true).await;
        }
        self.inner.tasks.close();
        self.inner.tasks.wait().await;
    }
}

impl Engine {
    /// Removes every clone, every snapshot and the pool directory itself (benchmarks).
    pub async fn remove_pool(self) {
        self.destroy_all().await;
        let state = self.state().await;
        for s in &state.snapshots {
            let _ = self.inner.backend.remove(&self.inner.paths.snapshot(&s.id));
        }
        let _ = std::fs::remove_dir_all(self.inner.paths.sockets());
        let _ = std::fs::remove_dir_all(&self.inner.paths.root);
    }
}

/// One engine per pool: a second one would adopt (or remove) the first one's clones.
fn lock_pool(paths: &PoolPaths) -> Result<nix::fcntl::Flock<std::fs::File>, EngineError> {
    use std::io::{Read, Seek, Write};
    let path = paths.lock_file();
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| EngineError::internal(format!("cannot open {}: {e}", path.display())))?;
    match nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusiveNonblock) {
        Ok(mut lock) => {
            let _ = lock.set_len(0);
            let _ = lock.rewind();
            let _ = write!(lock, "{}", std::process::id());
            Ok(lock)
        }
        Err((mut file, _)) => {
            let mut pid = String::new();
            let _ = file.read_to_string(&mut pid);
            Err(EngineError::Unavailable(format!(
                "another clone engine (pid {}) is using the pool {}; stop it or choose another \
                 pool directory",
                pid.trim(),
                paths.root.display()
            )))
        }
    }
}

impl Engine {
    pub fn started_at(&self) -> DateTime<Utc> {
        self.inner.started_at
    }

    pub fn refresh_status(&self) -> RefreshStatus {
        self.inner.refresh_status.lock().expect("poisoned").clone()
    }

    /// The metrics text for `/metrics`.
    pub async fn metrics_text(&self) -> String {
        let state = self.inner.state.lock().await;
        self.inner.metrics.render(&state, &self.inner.paths.root)
    }
}
