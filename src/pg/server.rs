//! One PostgreSQL server on a data directory: `initdb`, start, stop, connect as the
//! bootstrap superuser through a private Unix socket. PostgreSQL refuses to run as root,
//! so when preflight is root the server runs as the `postgres` user.
//!
//! Servers are started as `postgres` itself in a process group of their own (not through
//! `pg_ctl`, whose readiness check sleeps 100 ms at a time), so they outlive an engine
//! that crashes, and readiness is polled every few milliseconds.

use super::PgError;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The bootstrap superuser every built-in data directory is made with.
pub const SUPERUSER: &str = "postgres";

/// Who the server processes run as.
#[derive(Debug, Clone, Copy)]
pub struct RunAs {
    pub uid: u32,
    pub gid: u32,
}

impl RunAs {
    /// The current user, or `postgres` when the current user is root.
    pub fn detect() -> Result<RunAs, PgError> {
        let euid = nix::unistd::geteuid();
        if !euid.is_root() {
            return Ok(RunAs {
                uid: euid.as_raw(),
                gid: nix::unistd::getegid().as_raw(),
            });
        }
        match nix::unistd::User::from_name("postgres") {
            Ok(Some(u)) => Ok(RunAs {
                uid: u.uid.as_raw(),
                gid: u.gid.as_raw(),
            }),
            _ => Err(PgError::new(
                "choose a user for PostgreSQL",
                "running as root, and PostgreSQL refuses to run as root, but there is no \
                 `postgres` user; install PostgreSQL 15 (apt-get install postgresql-15) or run as \
                 a normal user",
            )),
        }
    }

    /// Creates `path` (if needed) as a directory only this user may enter (0700): a
    /// server's socket directory, where connections are trusted.
    pub fn private_dir(&self, path: &Path) -> Result<(), PgError> {
        use std::os::unix::fs::PermissionsExt;
        let what = || format!("make {} private to the server user", path.display());
        std::fs::create_dir_all(path).map_err(|e| PgError::new(what(), e))?;
        std::os::unix::fs::chown(path, Some(self.uid), Some(self.gid))
            .map_err(|e| PgError::new(what(), e))?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| PgError::new(what(), e))
    }

    /// Hands a path (recursively) to this user.
    pub fn own(&self, path: &Path) -> Result<(), PgError> {
        let status = crate::child::command("chown")
            .arg("-R")
            .arg(format!("{}:{}", self.uid, self.gid))
            .arg(path)
            .status()
            .map_err(|e| PgError::new("run chown", e))?;
        if !status.success() {
            return Err(PgError::new(
                "hand the data directory to the server user",
                format!("chown -R {} failed", path.display()),
            ));
        }
        Ok(())
    }
}

/// How to stop a server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopMode {
    /// Checkpoint first: the data directory is clean afterwards (snapshots).
    Fast,
    /// No checkpoint: the data directory is thrown away afterwards (clones).
    Immediate,
}

/// A data directory and how to run the server on it.
#[derive(Debug, Clone)]
pub struct PgServer {
    pub bin_dir: PathBuf,
    pub data_dir: PathBuf,
    pub socket_dir: PathBuf,
    pub log_file: PathBuf,
    pub run_as: RunAs,
    /// Runs in a network namespace of its own ([`super::netns`]): a clone server.
    pub confined: bool,
}

impl PgServer {
    fn command(&self, program: &str) -> Command {
        // An explicit environment: a server inheriting the job's would hand its tokens to
        // anyone who can read `/proc/<pid>/environ` (a superuser, with `pg_read_file`).
        if self.confined {
            return super::netns::isolated(
                &self.bin_dir.join(program),
                self.run_as.uid,
                self.run_as.gid,
            );
        }
        let mut cmd = crate::child::command(self.bin_dir.join(program));
        cmd.uid(self.run_as.uid).gid(self.run_as.gid);
        cmd
    }

    /// The last lines of the server log, for error messages.
    pub fn log_tail(&self, lines: usize) -> String {
        let log = std::fs::read_to_string(&self.log_file).unwrap_or_default();
        let mut tail: Vec<&str> = log.lines().rev().take(lines).collect();
        tail.reverse();
        tail.join(" | ")
    }

    /// Makes a fresh data directory with the bootstrap superuser and `pg_stat_statements`
    /// preloaded. Local (socket) connections are trusted, TCP ones need a password; the
    /// socket directory is private to the server user.
    pub async fn initdb(&self) -> Result<(), PgError> {
        let mut cmd = self.command("initdb");
        cmd.arg("-D")
            .arg(&self.data_dir)
            .args([
                "-U",
                SUPERUSER,
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
            ])
            .args(["-E", "UTF8", "--no-locale", "--no-sync"]);
        let out = tokio::task::spawn_blocking(move || cmd.output())
            .await
            .map_err(|e| PgError::new("run initdb", e))?
            .map_err(|e| {
                PgError::new(
                    "run initdb",
                    format!("{e}; is that PostgreSQL major installed (ops/pg-major.sh)?"),
                )
            })?;
        if !out.status.success() {
            return Err(PgError::new(
                "run initdb",
                String::from_utf8_lossy(&out.stderr).trim(),
            ));
        }
        self.append_conf(&[
            ("shared_preload_libraries", "'pg_stat_statements'"),
            ("pg_stat_statements.track_utility", "on"),
            ("listen_addresses", "''"),
        ])
    }

    /// Appends settings to `postgresql.conf` (later lines win).
    pub fn append_conf(&self, settings: &[(&str, &str)]) -> Result<(), PgError> {
        use std::io::Write;
        let path = self.data_dir.join("postgresql.conf");
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .map_err(|e| PgError::new(format!("open {}", path.display()), e))?;
        let mut text = String::from("\n# preflight\n");
        for (k, v) in settings {
            text.push_str(&format!("{k} = {v}\n"));
        }
        f.write_all(text.as_bytes())
            .map_err(|e| PgError::new(format!("write {}", path.display()), e))
    }

    /// Starts the server listening on `listen` (`""`: the socket only) and `port`, with
    /// extra `-c` settings, and waits until it answers a query, at most `timeout`.
    pub async fn start(
        &self,
        port: u16,
        listen: &str,
        settings: &[(&str, &str)],
        timeout: Duration,
    ) -> Result<(), PgError> {
        use std::os::unix::fs::OpenOptionsExt;
        // Written through the descriptor the engine opens: only the engine reads it.
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(&self.log_file)
            .map_err(|e| PgError::new(format!("open {}", self.log_file.display()), e))?;
        let log2 = log
            .try_clone()
            .map_err(|e| PgError::new("open the server log", e))?;
        let mut cmd = self.command("postgres");
        cmd.arg("-D")
            .arg(&self.data_dir)
            .args(["-p", &port.to_string()])
            .arg("-k")
            .arg(&self.socket_dir)
            // Socket connections are trusted: only the server's own user may use them.
            .args(["-c", "unix_socket_permissions=0700"])
            .args(["-c", &format!("listen_addresses={listen}")]);
        for (k, v) in settings {
            cmd.args(["-c", &format!("{k}={v}")]);
        }
        // Its own process group: a signal to the engine's group does not reach clones.
        cmd.process_group(0)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2);
        let mut child = cmd.spawn().map_err(|e| {
            PgError::new(
                "start a PostgreSQL server",
                format!("{e}; is that PostgreSQL major installed (ops/pg-major.sh)?"),
            )
        })?;
        let (exited_tx, exited_rx) = std::sync::mpsc::channel();
        // Reap the postmaster whenever it exits, so it never lingers as a zombie.
        std::thread::spawn(move || {
            let status = child.wait();
            let _ = exited_tx.send(status);
        });
        let started = Instant::now();
        loop {
            if let Ok(status) = exited_rx.try_recv() {
                let status = status.map(|s| s.to_string()).unwrap_or_default();
                return Err(PgError::new(
                    "start a PostgreSQL server",
                    format!("it exited ({status}): {}", self.log_tail(5)),
                ));
            }
            if self.answers(port).await {
                return Ok(());
            }
            if started.elapsed() > timeout {
                self.stop(StopMode::Immediate).await.ok();
                return Err(PgError::new(
                    "start a PostgreSQL server",
                    format!(
                        "not ready after {timeout:?}; server log: {}",
                        self.log_tail(5)
                    ),
                ));
            }
            tokio::time::sleep(Duration::from_millis(3)).await;
        }
    }

    /// Whether the server answers `SELECT 1` through its socket right now.
    pub async fn answers(&self, port: u16) -> bool {
        let probe = async {
            let db = self.connect(port, "postgres").await.ok()?;
            db.simple_query("SELECT 1").await.ok()
        };
        matches!(
            tokio::time::timeout(Duration::from_secs(2), probe).await,
            Ok(Some(_))
        )
    }

    /// The postmaster's pid, if its pid file names a live process working in this data
    /// directory (a pid file left by a crash may name a pid reused by anything).
    pub fn running_pid(&self) -> Option<nix::unistd::Pid> {
        let text = std::fs::read_to_string(self.data_dir.join("postmaster.pid")).ok()?;
        let raw = text.lines().next()?.trim().parse::<i32>().ok()?;
        let cwd = std::fs::read_link(format!("/proc/{raw}/cwd")).ok()?;
        let data_dir = std::fs::canonicalize(&self.data_dir).ok()?;
        if cwd != data_dir {
            return None;
        }
        let pid = nix::unistd::Pid::from_raw(raw);
        nix::sys::signal::kill(pid, None).ok().map(|_| pid)
    }

    /// Stops the server and waits until its postmaster is gone (SIGKILL after 30 s).
    pub async fn stop(&self, mode: StopMode) -> Result<(), PgError> {
        use nix::sys::signal::{kill, Signal};
        let Some(pid) = self.running_pid() else {
            return Ok(());
        };
        let signal = match mode {
            StopMode::Fast => Signal::SIGINT,
            StopMode::Immediate => Signal::SIGQUIT,
        };
        let _ = kill(pid, signal);
        let started = Instant::now();
        let mut delay = Duration::from_millis(2);
        while kill(pid, None).is_ok() {
            if started.elapsed() > Duration::from_secs(30) {
                let _ = kill(pid, Signal::SIGKILL);
                return Err(PgError::new(
                    "stop a PostgreSQL server",
                    format!(
                        "postmaster {pid} did not stop within 30 s and was killed; server log: {}",
                        self.log_tail(5)
                    ),
                ));
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_millis(100));
        }
        Ok(())
    }

    /// A superuser connection through the private socket.
    pub async fn connect(&self, port: u16, db: &str) -> Result<tokio_postgres::Client, PgError> {
        let mut config = tokio_postgres::Config::new();
        config
            .host_path(&self.socket_dir)
            .port(port)
            .user(SUPERUSER)
            .dbname(db)
            .application_name("preflight-engine");
        let (client, conn) = config
            .connect(tokio_postgres::NoTls)
            .await
            .map_err(|e| PgError::pg("connect to the server as superuser", e))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(client)
    }
}

/// A port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> Result<u16, PgError> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| PgError::new("find a free port", e))
}
