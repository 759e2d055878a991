//! The built-in engine in-process, for `preflight demo` and `preflight run` without an
//! engine URL: the same [`Engine`] that `preflight engine serve` runs, called directly
//! instead of over HTTP. One pool per database name under the work directory; the first
//! run builds the snapshot, later runs reuse it until the source changes. An in-process
//! engine removes (rather than adopts) clones a crashed earlier run left.

use super::{CloneEngine, CloneError, CloneInfo, CloneRequest};
use crate::config::file::BuiltinSection;
use crate::engine::config::EngineConfig;
use crate::engine::lifecycle::CreateClone;
use crate::engine::state::StatusCode;
use crate::engine::{Engine, EngineError};
use async_trait::async_trait;
use std::collections::HashMap;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

pub struct BuiltinEngine {
    section: BuiltinSection,
    engines: Mutex<HashMap<String, Engine>>,
}

fn engine_error(action: &str, e: EngineError) -> CloneError {
    CloneError::builtin(action, e)
}

impl BuiltinEngine {
    pub fn new(section: &BuiltinSection) -> Result<Self, CloneError> {
        Ok(BuiltinEngine {
            section: section.clone(),
            engines: Mutex::new(HashMap::new()),
        })
    }

    fn config(&self, db_name: &str) -> EngineConfig {
        EngineConfig {
            pool_dir: self.section.work_dir.join(format!("pool-{db_name}")),
            pg_bin_dir: self.section.pg_bin_dir.clone(),
            postgres_major: self.section.postgres_major,
            source: self.section.source.clone(),
            db_name: db_name.to_string(),
            port_range: (20000, 29999),
            free_space_floor_bytes: 256 << 20,
            adopt_clones: false,
            relay_program: self.section.relay_program.clone(),
            ..EngineConfig::default()
        }
    }

    /// The engine for `db_name`, with a snapshot of the current source (built if the
    /// source changed or none exists), so that clone times do not include it.
    pub async fn prepare(&self, db_name: &str) -> Result<Engine, CloneError> {
        let mut engines = self.engines.lock().await;
        if let Some(e) = engines.get(db_name) {
            return Ok(e.clone());
        }
        let engine = Engine::open(self.config(db_name))
            .await
            .map_err(|e| engine_error("open its pool", e))?;
        engine
            .ensure_snapshot()
            .await
            .map_err(|e| engine_error("build a snapshot of the source", e))?;
        engines.insert(db_name.to_string(), engine.clone());
        Ok(engine)
    }

    async fn engine_holding(&self, id: &str) -> Option<Engine> {
        for engine in self.engines.lock().await.values() {
            if engine.get_clone(id).await.is_ok() {
                return Some(engine.clone());
            }
        }
        None
    }
}

#[async_trait]
impl CloneEngine for BuiltinEngine {
    fn describe(&self) -> String {
        format!("built-in engine in {}", self.section.work_dir.display())
    }

    async fn create(
        &self,
        req: &CloneRequest,
        deadline: Duration,
    ) -> Result<CloneInfo, CloneError> {
        let started = Instant::now();
        let engine = self.prepare(&req.db_name).await?;
        engine
            .create_clone(CreateClone {
                id: Some(req.id.clone()),
                snapshot_id: req.snapshot.clone(),
                protected: false,
                protection_minutes: None,
                username: req.username.clone(),
                password: req.password.clone(),
                restricted: req.restricted,
                db_name: Some(req.db_name.clone()),
                extra_conf: Vec::new(),
                branch: None,
            })
            .await
            .map_err(|e| engine_error("create a clone", e))?;
        loop {
            let c = engine
                .get_clone(&req.id)
                .await
                .map_err(|e| engine_error("create a clone", e))?;
            match c.status.code {
                StatusCode::Ok => {
                    let state = engine.state().await;
                    let snapshot = state.snapshot(&c.snapshot_id);
                    return Ok(CloneInfo {
                        id: req.id.clone(),
                        host: engine.config().clone_address.clone(),
                        port: c.port.unwrap_or_default(),
                        db_name: req.db_name.clone(),
                        username: req.username.clone(),
                        password: req.password.clone(),
                        snapshot_id: Some(c.snapshot_id.clone()),
                        data_state_at: snapshot.map(|s| s.data_state_at.to_rfc3339()),
                        ready_seconds: started.elapsed().as_secs_f64(),
                    });
                }
                StatusCode::Fatal => {
                    let _ = engine.delete_clone(&req.id, true).await;
                    return Err(CloneError::Fatal {
                        id: req.id.clone(),
                        message: c.status.message,
                    });
                }
                _ if started.elapsed() > deadline => {
                    let _ = engine.delete_clone(&req.id, true).await;
                    return Err(CloneError::Timeout {
                        id: req.id.clone(),
                        waited: started.elapsed(),
                        last_status: format!("{}: {}", c.status.code.as_str(), c.status.message),
                    });
                }
                _ => tokio::time::sleep(Duration::from_millis(2)).await,
            }
        }
    }

    async fn destroy(&self, id: &str) -> Result<(), CloneError> {
        let Some(engine) = self.engine_holding(id).await else {
            return Ok(());
        };
        match engine.delete_clone(id, true).await {
            Ok(_) | Err(EngineError::NotFound(_)) => {}
            Err(e) => return Err(engine_error("destroy a clone", e)),
        }
        // Deletion runs in the background; wait for it, so nothing outlives the run.
        let started = Instant::now();
        while let Ok(c) = engine.get_clone(id).await {
            if c.status.code == StatusCode::Fatal {
                return Err(CloneError::Leftover {
                    id: id.to_string(),
                    message: c.status.message,
                });
            }
            if started.elapsed() > super::DESTROY_WAIT {
                return Err(CloneError::StillDeleting {
                    id: id.to_string(),
                    waited: started.elapsed(),
                });
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        Ok(())
    }
}
