//! The box's one door: a PostgreSQL Unix socket in a private directory, forwarded to the
//! clone's TCP address.
//!
//! The bridge answers the client's startup itself and logs in to the clone with the
//! clone's password ([`startup`]), so no secret enters the box. Then it relays messages
//! ([`relay`]) and understands them ([`session`]): the backend process ids of the box's
//! sessions (for the lock sampler), the SQLSTATE of every error the server sends (so a
//! failure's code comes from the server, not from anything the box prints), and every
//! statement with its timing, tag, transaction status and locks (the exact trace,
//! [`crate::trace`]).

pub mod autocommit;
pub mod error;
mod relay;
pub mod session;
mod startup;

pub use crate::pgwire::messages::ServerMessage as ServerError;
use crate::secret::Secret;
use crate::trace::detail::{Detail, Fold};
use crate::trace::reader::LockReader;
use crate::trace::timeline::Elided;
use crate::trace::StatementRecord;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use thiserror::Error;
use tokio::net::UnixListener;
use tokio::task::JoinSet;

/// Where and as whom the bridge logs in.
#[derive(Debug, Clone)]
pub struct Upstream {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub database: String,
    pub password: Secret,
    /// Settings every session starts with, after the client's own (trusted
    /// configuration's `session`).
    pub session: Vec<(String, String)>,
}

impl Upstream {
    /// The clone's own address and credentials.
    pub fn of(clone: &crate::model::clone::CloneInfo) -> Upstream {
        Upstream {
            host: clone.host.clone(),
            port: clone.port,
            user: clone.username.clone(),
            database: clone.db_name.clone(),
            password: clone.password.clone(),
            session: Vec::new(),
        }
    }

    /// The same clone, with sessions that start with `settings`.
    pub fn with_session(&self, settings: &[(String, String)]) -> Upstream {
        Upstream {
            session: settings.to_vec(),
            ..self.clone()
        }
    }
}

#[derive(Debug, Default)]
struct LogState {
    live_pids: BTreeSet<i32>,
    errors: Vec<ServerError>,
    failures: Vec<String>,
    statements: Vec<StatementRecord>,
    /// What of the statements is kept, and the count of the rest.
    fold: Fold,
}

/// What the bridge learned, shared with the observers.
#[derive(Debug, Default)]
pub struct BridgeLog {
    state: Mutex<LogState>,
}

/// What happened on the bridge since the last [`BridgeLog::take`].
#[derive(Debug, Default)]
pub struct BridgeEvents {
    pub errors: Vec<ServerError>,
    /// Sessions the bridge could not connect (clone down, login refused).
    pub failures: Vec<String>,
    /// Every statement of the box's sessions, in the order their units ended, but those
    /// folded into `folded`.
    pub statements: Vec<StatementRecord>,
    pub folded: Elided,
}

impl BridgeLog {
    fn with<R>(&self, f: impl FnOnce(&mut LogState) -> R) -> R {
        f(&mut self.state.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Backend process ids of the box's sessions that are connected now.
    pub fn live_pids(&self) -> Vec<i32> {
        self.with(|s| s.live_pids.iter().copied().collect())
    }

    /// Takes the events recorded so far.
    pub fn take(&self) -> BridgeEvents {
        self.with(|s| BridgeEvents {
            errors: std::mem::take(&mut s.errors),
            failures: std::mem::take(&mut s.failures),
            statements: std::mem::take(&mut s.statements),
            folded: std::mem::take(&mut s.fold.elided),
        })
    }

    /// Forgets what was recorded and starts a migration's record, keeping its statements
    /// as `detail` says.
    pub fn start(&self, detail: Detail) {
        self.take();
        self.with(|s| s.fold = Fold::new(detail));
    }

    fn session_started(&self, pid: i32) {
        self.with(|s| s.live_pids.insert(pid));
    }

    fn session_ended(&self, pid: Option<i32>) {
        if let Some(pid) = pid {
            self.with(|s| s.live_pids.remove(&pid));
        }
    }

    fn error(&self, e: ServerError) {
        self.with(|s| s.errors.push(e));
    }

    fn statements(&self, records: Vec<StatementRecord>) {
        if !records.is_empty() {
            self.with(|s| {
                for r in records {
                    if let Some(r) = s.fold.admit(r) {
                        s.statements.push(r);
                    }
                }
            });
        }
    }

    fn failure(&self, what: String) {
        self.with(|s| s.failures.push(what));
    }
}

#[derive(Debug, Error)]
pub enum BridgeError {
    #[error("cannot listen on the bridge socket {path}: {source}")]
    Listen {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// What the bridge does with a session's messages after login.
#[derive(Clone)]
enum Relaying {
    /// Copies bytes both ways.
    Plain,
    /// Frames, understands and records them; reads locks at boundaries with the reader.
    Traced(Option<Arc<dyn LockReader>>),
}

/// A running bridge; [`Bridge::stop`] closes it and every session.
pub struct Bridge {
    pub socket_dir: PathBuf,
    pub log: Arc<BridgeLog>,
    tasks: JoinSet<()>,
}

/// The socket's file name, as PostgreSQL clients expect it for port 5432.
pub const SOCKET_NAME: &str = ".s.PGSQL.5432";

impl Bridge {
    /// Listens on `socket_dir/.s.PGSQL.5432` and forwards every session to `upstream`,
    /// understanding and recording it; `reader` reads a session's locks at statement
    /// boundaries (none: no boundary reads).
    pub fn start(
        socket_dir: &Path,
        upstream: Upstream,
        reader: Option<Arc<dyn LockReader>>,
    ) -> Result<Bridge, BridgeError> {
        Self::listen(socket_dir, upstream, Relaying::Traced(reader))
    }

    /// A bridge that logs in for the client and then only copies bytes: no statement,
    /// error or pid is recorded. The baseline `preflight bench trace` measures the
    /// trace's cost against.
    pub fn start_plain(socket_dir: &Path, upstream: Upstream) -> Result<Bridge, BridgeError> {
        Self::listen(socket_dir, upstream, Relaying::Plain)
    }

    fn listen(
        socket_dir: &Path,
        upstream: Upstream,
        mode: Relaying,
    ) -> Result<Bridge, BridgeError> {
        use std::os::unix::fs::PermissionsExt;
        let path = socket_dir.join(SOCKET_NAME);
        let listen_err = |source| BridgeError::Listen {
            path: path.clone(),
            source,
        };
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path).map_err(listen_err)?;
        // The box runs as an unprivileged user; the directory itself is private to the run.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o777))
            .map_err(listen_err)?;

        let log = Arc::new(BridgeLog::default());
        let upstream = Arc::new(upstream);
        let mut tasks = JoinSet::new();
        let accept_log = log.clone();
        tasks.spawn(async move {
            let mut sessions = JoinSet::new();
            loop {
                tokio::select! {
                    accepted = listener.accept() => {
                        let Ok((stream, _)) = accepted else { continue };
                        let (up, log) = (upstream.clone(), accept_log.clone());
                        let mode = mode.clone();
                        sessions.spawn(async move {
                            if let Err(e) = relay::session(stream, &up, &log, mode).await {
                                log.failure(crate::error_chain(&e));
                            }
                        });
                    }
                    Some(_) = sessions.join_next(), if !sessions.is_empty() => {}
                }
            }
        });
        Ok(Bridge {
            socket_dir: socket_dir.to_path_buf(),
            log,
            tasks,
        })
    }

    /// Closes the socket and every session through it.
    pub async fn stop(mut self) {
        self.tasks.abort_all();
        while self.tasks.join_next().await.is_some() {}
        let _ = std::fs::remove_file(self.socket_dir.join(SOCKET_NAME));
    }
}
