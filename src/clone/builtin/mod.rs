//! The built-in clone engine, in-process: a golden copy per source ([`golden`]), and each
//! clone a PostgreSQL server ([`server`]) on its own free port, listening on 127.0.0.1
//! only, started on a copy of the golden data directory with `pg_stat_statements`
//! preloaded. The copy is a plain `cp --reflink=auto` here; constant-time snapshots are
//! the engine service's job.

pub mod dataset;
pub mod golden;
pub mod server;

use super::{CloneEngine, CloneError, CloneInfo, CloneRequest};
use crate::config::file::{BuiltinSection, SourceSection};
use async_trait::async_trait;
use golden::GoldenStore;
use server::{free_port, PgServer, RunAs, OWNER_ROLE, SUPERUSER};
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

pub struct BuiltinEngine {
    work_dir: PathBuf,
    source: SourceSection,
    golden: GoldenStore,
    running: Mutex<HashMap<String, PgServer>>,
}

/// Clone ids become directory names: keep them to the API's allowed characters.
fn valid_id(id: &str) -> bool {
    let mut chars = id.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

impl BuiltinEngine {
    pub fn new(section: &BuiltinSection) -> Result<Self, CloneError> {
        let run_as = RunAs::detect()?;
        Ok(BuiltinEngine {
            work_dir: section.work_dir.clone(),
            source: section.source.clone(),
            golden: GoldenStore {
                root: section.work_dir.join("golden"),
                bin_dir: section.pg_bin_dir.clone(),
                run_as,
            },
            running: Mutex::new(HashMap::new()),
        })
    }

    /// Builds the golden copy for `db_name` now, so that clone times do not include it.
    pub async fn prepare(&self, db_name: &str) -> Result<(), CloneError> {
        self.golden.ensure(&self.source, db_name).await.map(|_| ())
    }

    fn clone_dir(&self, id: &str) -> PathBuf {
        self.work_dir.join("clones").join(id)
    }

    async fn copy_golden(&self, golden: PathBuf, dir: PathBuf) -> Result<(), CloneError> {
        std::fs::create_dir_all(dir.join("sock"))
            .map_err(|e| CloneError::builtin(format!("create {}", dir.display()), e))?;
        let target = dir.join("data");
        let out = tokio::task::spawn_blocking(move || {
            std::process::Command::new("cp")
                .args(["-a", "--reflink=auto"])
                .arg(&golden)
                .arg(&target)
                .output()
        })
        .await
        .map_err(|e| CloneError::builtin("copy the golden data directory", e))?
        .map_err(|e| CloneError::builtin("copy the golden data directory", e))?;
        if !out.status.success() {
            return Err(CloneError::builtin(
                "copy the golden data directory",
                String::from_utf8_lossy(&out.stderr).trim(),
            ));
        }
        self.golden.run_as.own(&dir)
    }

    /// Gives the requester a login role that owns the database and its data.
    async fn grant(
        &self,
        server: &PgServer,
        port: u16,
        req: &CloneRequest,
    ) -> Result<(), CloneError> {
        let db = server.connect(port, &req.db_name).await?;
        let verifier = postgres_protocol::password::scram_sha_256(req.password.expose().as_bytes());
        let extra = if req.restricted {
            "GRANT pg_read_all_stats TO %1$I; \
             GRANT EXECUTE ON FUNCTION pg_stat_statements_reset(oid, oid, bigint) TO %1$I;"
        } else {
            "ALTER ROLE %1$I SUPERUSER;"
        };
        let template = format!(
            "CREATE ROLE %1$I LOGIN PASSWORD %2$L; REASSIGN OWNED BY {OWNER_ROLE} TO %1$I; \
             ALTER DATABASE %3$I OWNER TO %1$I; {extra}"
        );
        let row = db
            .query_one(
                "SELECT format($1::text, $2::text, $3::text, $4::text)",
                &[&template, &req.username, &verifier, &req.db_name],
            )
            .await
            .map_err(|e| CloneError::pg("prepare the clone's role", e))?;
        db.batch_execute(row.get::<_, &str>(0))
            .await
            .map_err(|e| CloneError::pg(format!("create role {:?}", req.username), e))
    }

    async fn start_clone(
        &self,
        req: &CloneRequest,
        deadline: Duration,
    ) -> Result<(PgServer, u16), CloneError> {
        let golden = self.golden.ensure(&self.source, &req.db_name).await?;
        let dir = self.clone_dir(&req.id);
        self.copy_golden(golden, dir.clone()).await?;
        let server = PgServer {
            bin_dir: self.golden.bin_dir.clone(),
            data_dir: dir.join("data"),
            socket_dir: dir.join("sock"),
            log_file: dir.join("server.log"),
            run_as: self.golden.run_as,
        };
        let port = free_port()?;
        server.start(port, "127.0.0.1", deadline).await?;
        if let Err(e) = self.grant(&server, port, req).await {
            let _ = server.stop(false).await;
            return Err(e);
        }
        Ok((server, port))
    }
}

#[async_trait]
impl CloneEngine for BuiltinEngine {
    fn describe(&self) -> String {
        format!("built-in engine in {}", self.work_dir.display())
    }

    async fn create(
        &self,
        req: &CloneRequest,
        deadline: Duration,
    ) -> Result<CloneInfo, CloneError> {
        if !valid_id(&req.id) {
            return Err(CloneError::builtin(
                "create a clone",
                format!("id {:?} must match ^[a-zA-Z0-9][a-zA-Z0-9_.-]*$", req.id),
            ));
        }
        if [SUPERUSER, OWNER_ROLE].contains(&req.username.as_str()) {
            return Err(CloneError::builtin(
                "create a clone",
                format!("username {:?} is reserved", req.username),
            ));
        }
        let dir = self.clone_dir(&req.id);
        if dir.exists() {
            return Err(CloneError::builtin(
                "create a clone",
                format!("id {:?} is in use", req.id),
            ));
        }
        let started = Instant::now();
        match self.start_clone(req, deadline).await {
            Ok((server, port)) => {
                self.running.lock().await.insert(req.id.clone(), server);
                Ok(CloneInfo {
                    id: req.id.clone(),
                    host: "127.0.0.1".into(),
                    port,
                    db_name: req.db_name.clone(),
                    username: req.username.clone(),
                    password: req.password.clone(),
                    snapshot_id: None,
                    data_state_at: None,
                    ready_seconds: started.elapsed().as_secs_f64(),
                })
            }
            Err(e) => {
                let _ = std::fs::remove_dir_all(&dir);
                Err(e)
            }
        }
    }

    async fn destroy(&self, id: &str) -> Result<(), CloneError> {
        let server = self.running.lock().await.remove(id);
        let stopped = match &server {
            Some(s) => s.stop(false).await,
            None => Ok(()),
        };
        let dir = self.clone_dir(id);
        if dir.exists() {
            std::fs::remove_dir_all(&dir)
                .map_err(|e| CloneError::builtin(format!("remove {}", dir.display()), e))?;
        }
        stopped
    }
}
