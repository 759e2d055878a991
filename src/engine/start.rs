//! Starting a clone's server: its storage cloned from the snapshot, its own user (never
//! one a process still holds), its socket directory, the server itself with the clone's
//! settings, the relay of its port for a confined server, and the requester's login.
//! Each way this can fail is a [`StartError`], which becomes the clone's `FATAL` reason.

use super::lifecycle::LINGER;
use super::relay::RelayError;
use super::state::CloneRecord;
use super::storage::StorageError;
use super::Engine;
use crate::pg::role::grant_login;
use crate::pg::server::PgServer;
use crate::pg::PgError;
use std::time::Instant;

/// Why a clone's server could not be started.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("no port was reserved")]
    NoPort,
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(
        "processes {pids:?} of user {uid} (an earlier clone on port {port}) could not be \
         stopped; the clone is not started as that user"
    )]
    UserInUse { pids: Vec<i32>, uid: u32, port: u16 },
    #[error(transparent)]
    Server(#[from] PgError),
    #[error("the server stopped right after it started")]
    ServerGone,
    #[error("clone_address is not an IP address")]
    Address(#[source] std::net::AddrParseError),
    #[error("cannot find the preflight program to relay the clone's port")]
    Program(#[source] std::io::Error),
    #[error(transparent)]
    Relay(#[from] RelayError),
    #[error("a background task of the start failed")]
    Task(#[from] tokio::task::JoinError),
}

impl Engine {
    /// Builds a clone's storage from its snapshot, starts its server (as the clone's own
    /// user when confined, once no process of that user is left), relays its port and
    /// lets the requester log in.
    pub(crate) async fn start_server(&self, record: &CloneRecord) -> Result<(), StartError> {
        let port = record.port.ok_or(StartError::NoPort)?;
        let snapshot = self.inner.paths.snapshot(&record.snapshot_id);
        let dir = self.inner.paths.clone_dir(&record.id);
        let backend = self.inner.backend;
        let (snap, target) = (snapshot.clone(), dir.clone());
        let t = Instant::now();
        tokio::task::spawn_blocking(move || backend.clone_from(&snap, &target)).await??;
        let server = self.clone_server(&record.id, port);
        if server.confined {
            // A user id is never handed to a new clone while a process of it exists.
            let pids = super::processes::kill_all(server.run_as.uid, LINGER).await;
            if !pids.is_empty() {
                return Err(StartError::UserInUse {
                    pids,
                    uid: server.run_as.uid,
                    port,
                });
            }
            server.run_as.own(&server.data_dir)?;
        }
        let storage_ms = t.elapsed().as_millis();
        server.run_as.private_dir(&server.socket_dir)?;
        let t = Instant::now();
        let temp_limit = format!("{}kB", self.inner.cfg.clone_temp_file_limit_kb);
        let mut settings: Vec<(&str, &str)> = vec![("temp_file_limit", &temp_limit)];
        settings.extend(
            record
                .extra_conf
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str())),
        );
        // A confined server listens on the loopback of its own namespace; the engine
        // relays the clone's port to it.
        let listen = match server.confined {
            true => "127.0.0.1",
            false => self.inner.cfg.clone_address.as_str(),
        };
        server
            .start(port, listen, &settings, self.inner.cfg.clone_start_timeout)
            .await?;
        self.relay_port(&record.id, &server, port).await?;
        let start_ms = t.elapsed().as_millis();
        let t = Instant::now();
        let db = server.connect(port, &record.db.db_name).await?;
        let owner = self
            .inner
            .state
            .lock()
            .await
            .snapshot(&record.snapshot_id)
            .map_or(crate::pg::role::OWNER_ROLE.to_string(), |s| s.owner.clone());
        grant_login(
            &db,
            &owner,
            &record.db.username,
            &record.db.verifier,
            &record.db.db_name,
            record.db.restricted,
        )
        .await?;
        tracing::debug!(
            clone = %record.id,
            storage_ms,
            start_ms,
            grant_ms = t.elapsed().as_millis(),
            "clone phases"
        );
        Ok(())
    }

    /// For a confined server, starts the relay of the clone's port (unless one runs).
    pub(crate) async fn relay_port(
        &self,
        id: &str,
        server: &PgServer,
        port: u16,
    ) -> Result<(), StartError> {
        let clone_dir = self.inner.paths.clone_dir(id);
        if !server.confined || super::relay::running(&clone_dir, port).is_some() {
            return Ok(());
        }
        let pid = server.running_pid().ok_or(StartError::ServerGone)?;
        let address: std::net::IpAddr = self
            .inner
            .cfg
            .clone_address
            .parse()
            .map_err(StartError::Address)?;
        let program = match &self.inner.cfg.relay_program {
            Some(p) => p.clone(),
            None => std::env::current_exe().map_err(StartError::Program)?,
        };
        tokio::task::spawn_blocking(move || {
            super::relay::start(&program, (address, port).into(), pid.as_raw(), &clone_dir)
        })
        .await??;
        Ok(())
    }
}
