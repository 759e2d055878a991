//! One PostgreSQL server on a data directory: `initdb`, start, stop, connect as the
//! bootstrap superuser through a private Unix socket. PostgreSQL refuses to run as root,
//! so when preflight is root the server runs as the `postgres` user.

use super::super::CloneError;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// The bootstrap superuser every built-in data directory is made with.
pub const SUPERUSER: &str = "postgres";
/// The role that owns the data in a golden copy; clones hand it to the requester.
pub const OWNER_ROLE: &str = "preflight_owner";

/// Who the server processes run as.
#[derive(Debug, Clone, Copy)]
pub struct RunAs {
    pub uid: u32,
    pub gid: u32,
}

impl RunAs {
    /// The current user, or `postgres` when the current user is root.
    pub fn detect() -> Result<RunAs, CloneError> {
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
            _ => Err(CloneError::builtin(
                "choose a user for PostgreSQL",
                "running as root, and PostgreSQL refuses to run as root, but there is no \
                 `postgres` user; install PostgreSQL 15 (apt-get install postgresql-15) or run as \
                 a normal user",
            )),
        }
    }

    /// Hands a path (recursively) to this user.
    pub fn own(&self, path: &Path) -> Result<(), CloneError> {
        let status = Command::new("chown")
            .arg("-R")
            .arg(format!("{}:{}", self.uid, self.gid))
            .arg(path)
            .status()
            .map_err(|e| CloneError::builtin("run chown", e))?;
        if !status.success() {
            return Err(CloneError::builtin(
                "hand the data directory to the server user",
                format!("chown -R {} failed", path.display()),
            ));
        }
        Ok(())
    }
}

/// A data directory and how to run the server on it.
#[derive(Debug, Clone)]
pub struct PgServer {
    pub bin_dir: PathBuf,
    pub data_dir: PathBuf,
    pub socket_dir: PathBuf,
    pub log_file: PathBuf,
    pub run_as: RunAs,
}

impl PgServer {
    fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new(self.bin_dir.join(program));
        cmd.uid(self.run_as.uid).gid(self.run_as.gid);
        cmd.env_remove("PGPASSWORD").env("LC_ALL", "C.UTF-8");
        cmd
    }

    async fn run(&self, mut cmd: Command, action: &str) -> Result<(), CloneError> {
        let action = action.to_string();
        let out = tokio::task::spawn_blocking(move || cmd.output())
            .await
            .map_err(|e| CloneError::builtin(&action, e))?
            .map_err(|e| {
                CloneError::builtin(
                    &action,
                    format!("{e}; is PostgreSQL 15 installed (builtin.pg_bin_dir)?"),
                )
            })?;
        if !out.status.success() {
            let log = std::fs::read_to_string(&self.log_file).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(5).collect();
            return Err(CloneError::builtin(
                &action,
                format!(
                    "{}{}",
                    String::from_utf8_lossy(&out.stderr).trim(),
                    if tail.is_empty() {
                        String::new()
                    } else {
                        format!(
                            " (server log: {})",
                            tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
                        )
                    }
                ),
            ));
        }
        Ok(())
    }

    /// Makes a fresh data directory with the bootstrap superuser and `pg_stat_statements`
    /// preloaded. Local (socket) connections are trusted, TCP ones need a password; the
    /// socket directory is private to the server user.
    pub async fn initdb(&self) -> Result<(), CloneError> {
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
        self.run(cmd, "initdb").await?;
        self.append_conf(&[
            ("shared_preload_libraries", "'pg_stat_statements'"),
            ("pg_stat_statements.track_utility", "on"),
            ("listen_addresses", "''"),
        ])
    }

    /// Appends settings to `postgresql.conf` (later lines win).
    pub fn append_conf(&self, settings: &[(&str, &str)]) -> Result<(), CloneError> {
        use std::io::Write;
        let path = self.data_dir.join("postgresql.conf");
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .map_err(|e| CloneError::builtin(format!("open {}", path.display()), e))?;
        let mut text = String::from("\n# preflight\n");
        for (k, v) in settings {
            text.push_str(&format!("{k} = {v}\n"));
        }
        f.write_all(text.as_bytes())
            .map_err(|e| CloneError::builtin(format!("write {}", path.display()), e))
    }

    /// Starts the server and waits until it accepts connections.
    pub async fn start(
        &self,
        port: u16,
        listen: &str,
        timeout: Duration,
    ) -> Result<(), CloneError> {
        self.append_conf(&[
            ("port", &port.to_string()),
            ("listen_addresses", &format!("'{listen}'")),
            (
                "unix_socket_directories",
                &format!("'{}'", self.socket_dir.display()),
            ),
        ])?;
        let mut cmd = self.command("pg_ctl");
        cmd.arg("start")
            .arg("-D")
            .arg(&self.data_dir)
            .arg("-l")
            .arg(&self.log_file)
            .args(["-w", "-t", &timeout.as_secs().max(1).to_string()]);
        self.run(cmd, "start a PostgreSQL server").await
    }

    /// Stops the server: `fast` checkpoints first (a golden copy), otherwise immediate.
    pub async fn stop(&self, fast: bool) -> Result<(), CloneError> {
        if !self.data_dir.join("postmaster.pid").exists() {
            return Ok(());
        }
        let mut cmd = self.command("pg_ctl");
        cmd.arg("stop").arg("-D").arg(&self.data_dir).args([
            "-m",
            if fast { "fast" } else { "immediate" },
            "-w",
            "-t",
            "30",
        ]);
        let result = self.run(cmd, "stop a PostgreSQL server").await;
        if result.is_err() {
            self.kill_postmaster();
        }
        result
    }

    /// Last resort when `pg_ctl stop` fails: SIGKILL the postmaster named in its pid file.
    fn kill_postmaster(&self) {
        let pid_file = self.data_dir.join("postmaster.pid");
        let pid = std::fs::read_to_string(pid_file)
            .ok()
            .and_then(|t| t.lines().next().and_then(|l| l.trim().parse::<i32>().ok()));
        if let Some(pid) = pid {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }

    /// A superuser connection through the private socket.
    pub async fn connect(&self, port: u16, db: &str) -> Result<tokio_postgres::Client, CloneError> {
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
            .map_err(|e| CloneError::pg("connect to the server as superuser", e))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(client)
    }
}

/// A port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> Result<u16, CloneError> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| CloneError::builtin("find a free port", e))
}
