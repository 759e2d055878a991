//! A clone's life: create (`CREATING` -> `OK`, or `FATAL` with the reason and its
//! storage cleaned), reset to a snapshot (`RESETTING` -> `OK`), delete (`DELETING` ->
//! gone). Each request is checked and recorded under the state lock and answered at
//! once; the slow part runs in a tracked task holding the clone's own lock, so a delete
//! that arrives while a clone is still starting waits for the start to finish.

use super::password::check_password;
use super::state::{CloneRecord, DbRecord, State, Status, StatusCode};
use super::storage::capacity;
use super::{Engine, EngineError};
use crate::pg::role::verifier;
use crate::pg::server::{StopMode, SUPERUSER};
use crate::secret::Secret;
use chrono::Utc;
use std::time::Instant;

/// How long a clone's leftover processes may take to die once killed.
pub(crate) const LINGER: std::time::Duration = std::time::Duration::from_secs(5);

/// What outlived a clone's end.
#[derive(Debug, thiserror::Error)]
pub enum Leftover {
    #[error(
        "processes {pids:?} of the clone's user {uid} survived its end and SIGKILL; the clone \
         stays FATAL and keeps its port (so no new clone gets that user) until a later delete \
         ends them"
    )]
    Processes { uid: u32, pids: Vec<i32> },
    #[error("the clone's storage could not be removed: {0}; the clone stays FATAL until a later delete removes it")]
    Storage(String),
}

/// A create request, already parsed.
#[derive(Debug, Clone)]
pub struct CreateClone {
    pub id: Option<String>,
    pub snapshot_id: Option<String>,
    pub protected: bool,
    /// How long the protection lasts (DLE's `protectionDurationMinutes`; 0: until
    /// removed; absent: the engine's lease).
    pub protection_minutes: Option<u64>,
    pub username: String,
    pub password: Secret,
    pub restricted: bool,
    pub db_name: Option<String>,
    /// Checked per-clone settings (`extra_conf`).
    pub extra_conf: Vec<(String, String)>,
    /// Clone the head of this branch (when no snapshot is named).
    pub branch: Option<String>,
}

/// What a reset goes back to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResetTarget {
    /// The snapshot the clone was made from.
    Own,
    Latest,
    Snapshot(String),
}

/// Clone ids become directory names: the API's allowed characters only.
pub fn valid_id(id: &str) -> bool {
    let mut chars = id.chars();
    id.len() <= 128
        && matches!(chars.next(), Some(c) if c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

/// Any name PostgreSQL can hold as a role (every statement quotes it): 1 to 63 bytes,
/// no control characters, not the reserved `pg_` prefix.
fn valid_username(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && !name.chars().any(char::is_control)
        && !name.starts_with("pg_")
}

fn generated_id() -> String {
    use rand::Rng;
    let n: u64 = rand::thread_rng().gen();
    format!("clone-{n:016x}")
}

impl Engine {
    /// Checks and records a new clone, starts it in the background, and returns it in
    /// status `CREATING`.
    pub async fn create_clone(&self, req: CreateClone) -> Result<CloneRecord, EngineError> {
        let id = req.id.clone().unwrap_or_else(generated_id);
        if !valid_id(&id) {
            return Err(EngineError::BadRequest(format!(
                "id {id:?} is not allowed: use ^[a-zA-Z0-9][a-zA-Z0-9_.-]*$, at most 128 characters"
            )));
        }
        if !valid_username(&req.username) {
            return Err(EngineError::BadRequest(format!(
                "db.username {:?} is not allowed: use 1 to 63 bytes without control characters, \
                 not starting with pg_",
                req.username
            )));
        }
        if req.username == SUPERUSER || req.username == crate::pg::role::OWNER_ROLE {
            return Err(EngineError::BadRequest(format!(
                "db.username {:?} is reserved by the engine; choose another",
                req.username
            )));
        }
        check_password(req.password.expose())
            .map_err(|e| EngineError::BadRequest(e.to_string()))?;
        if !req.restricted && !self.inner.confined {
            return Err(EngineError::BadRequest(
                "db.restricted false asks for a superuser, who can run programs on the server; \
                 this engine cannot confine a clone server (it must run as root to give each \
                 one its own user and no network), so only restricted clones are offered"
                    .into(),
            ));
        }
        if self.inner.tasks.is_closed() {
            return Err(EngineError::Unavailable(
                "the engine is shutting down".into(),
            ));
        }

        // Deliberately slow (4096 rounds): computed before the state lock is taken.
        let verifier = verifier(req.password.expose());
        let mut state = self.inner.state.lock().await;
        if state.clones.contains_key(&id) {
            return Err(EngineError::BadRequest(format!(
                "clone id {id:?} is already in use; choose another id or delete that clone first"
            )));
        }
        let snapshot = match (&req.snapshot_id, &req.branch) {
            (Some(sid), _) => state.snapshot(sid).cloned().ok_or_else(|| {
                EngineError::BadRequest(format!(
                    "snapshot {sid:?} does not exist; GET /snapshots lists the snapshots"
                ))
            })?,
            (None, Some(branch)) => state.branch_head(branch).cloned().ok_or_else(|| {
                EngineError::BadRequest(format!(
                    "branch {branch:?} does not exist; GET /branches lists the branches"
                ))
            })?,
            (None, None) => state.latest_snapshot().cloned().ok_or_else(|| {
                EngineError::Unavailable(
                    "the engine has no snapshot yet; wait for the first one to be built \
                     (GET /status shows its progress)"
                        .into(),
                )
            })?,
        };
        self.check_capacity(&state)?;
        let port = self.free_port(&state)?;
        let db_name = req
            .db_name
            .clone()
            .or_else(|| {
                snapshot
                    .databases
                    .iter()
                    .find(|d| *d != "postgres")
                    .cloned()
            })
            .unwrap_or_else(|| "postgres".into());
        let now = Utc::now();
        let mut record = CloneRecord {
            id: id.clone(),
            snapshot_id: snapshot.id.clone(),
            protected: req.protected,
            created_at: now,
            last_active: now,
            status: Status::of(StatusCode::Creating),
            port: Some(port),
            db: DbRecord {
                username: req.username.clone(),
                verifier,
                restricted: req.restricted,
                db_name,
            },
            cloning_time: 0.0,
            protected_till: None,
            extra_conf: req.extra_conf.clone(),
            branch: req
                .branch
                .clone()
                .unwrap_or_else(|| snapshot.branch.clone()),
        };
        if req.protected {
            record.protected_till = self.protection_till(req.protection_minutes, now);
        }
        state.clones.insert(id.clone(), record.clone());
        self.save(&state)?;
        drop(state);
        tracing::info!(clone = %id, snapshot = %snapshot.id, port, "creating a clone");

        let engine = self.clone();
        let lock = self.op_lock(&id);
        self.inner.tasks.spawn(async move {
            let _guard = lock.lock().await;
            engine.materialize(&id, StatusCode::Creating).await;
        });
        Ok(record)
    }

    /// Refuses a clone when the pool is at its limits, saying which and by how much.
    fn check_capacity(&self, state: &State) -> Result<(), EngineError> {
        let cfg = &self.inner.cfg;
        if state.clones.len() >= cfg.max_clones {
            return Err(EngineError::Unavailable(format!(
                "clone limit reached: {} of {} clones exist (max_clones); delete a clone or \
                 raise the limit",
                state.clones.len(),
                cfg.max_clones
            )));
        }
        let (_, free) = capacity(&self.inner.paths.root);
        if free < cfg.free_space_floor_bytes {
            return Err(EngineError::Unavailable(format!(
                "not enough disk: the pool {} has {} bytes free, below the floor of {} bytes \
                 (free_space_floor_bytes); delete clones or old snapshots, or grow the pool",
                self.inner.paths.root.display(),
                free,
                cfg.free_space_floor_bytes
            )));
        }
        Ok(())
    }

    /// A port of the range no clone holds and nothing else listens on. The search starts
    /// at a random place, so that engines sharing a range rarely race for one port.
    fn free_port(&self, state: &State) -> Result<u16, EngineError> {
        use rand::Rng;
        let cfg = &self.inner.cfg;
        let used = state.ports_in_use();
        let address: std::net::IpAddr = cfg.clone_address.parse().map_err(EngineError::internal)?;
        let total = cfg.ports().count();
        let start = rand::thread_rng().gen_range(0..total);
        cfg.ports()
            .cycle()
            .skip(start)
            .take(total)
            .filter(|p| !used.contains(p))
            .find(|p| std::net::TcpListener::bind((address, *p)).is_ok())
            .ok_or_else(|| {
                EngineError::Unavailable(format!(
                    "no free port: {} clones hold ports and the rest of the {} ports in {}-{} are \
                     taken by other programs; delete a clone or widen port_range",
                    used.len(),
                    total,
                    cfg.port_range.0,
                    cfg.port_range.1
                ))
            })
    }

    /// Builds the clone's storage and starts its server; ends in `OK` or `FATAL`.
    async fn materialize(&self, id: &str, from: StatusCode) {
        let started = Instant::now();
        let Some(record) = self.inner.state.lock().await.clones.get(id).cloned() else {
            return;
        };
        let result = self
            .start_server(&record)
            .await
            .map_err(|e| crate::error_chain(&e));
        if let Err(reason) = &result {
            // Clean first, so that a client that sees FATAL never finds its storage.
            tracing::error!(clone = %id, %reason, "clone failed to start");
            let _ = self.remove_storage(id, record.port).await;
        }
        let mut state = self.inner.state.lock().await;
        let Some(entry) = state.clones.get_mut(id) else {
            return;
        };
        match result {
            Ok(()) if entry.status.code == from => {
                entry.status = Status::of(StatusCode::Ok);
                entry.cloning_time = started.elapsed().as_secs_f64();
                entry.last_active = Utc::now();
                self.inner.metrics.observe_ready(entry.cloning_time);
                tracing::info!(clone = %id, seconds = entry.cloning_time, "clone ready");
            }
            Ok(()) => {}
            Err(reason) => {
                entry.status = Status {
                    code: StatusCode::Fatal,
                    message: format!("Cloning failure: {reason}"),
                };
                entry.port = None;
            }
        }
        if let Err(e) = self.save(&state) {
            tracing::error!(error = %crate::error_chain(&e), "could not save the engine state");
        }
    }

    /// Stops a clone's server and removes its storage and socket directory; answers what
    /// could not be ended or removed (it is logged too).
    pub(crate) async fn remove_storage(&self, id: &str, port: Option<u16>) -> Result<(), Leftover> {
        let mut leftover = Ok(());
        if let Some(port) = port {
            super::relay::stop(&self.inner.paths.clone_dir(id), port).await;
            let server = self.clone_server(id, port);
            if let Err(e) = server.stop(StopMode::Immediate).await {
                tracing::warn!(clone = %id, error = %crate::error_chain(&e), "stopping the clone's server");
            }
            let _ = std::fs::remove_dir_all(&server.socket_dir);
            // Whatever its programs started ends with it (a confined clone's user is its
            // own, so every process of that user is the clone's).
            if server.confined {
                let pids = super::processes::kill_all(server.run_as.uid, LINGER).await;
                if !pids.is_empty() {
                    leftover = Err(Leftover::Processes {
                        uid: server.run_as.uid,
                        pids,
                    });
                }
            }
        }
        let backend = self.inner.backend;
        let dir = self.inner.paths.clone_dir(id);
        let removed = match tokio::task::spawn_blocking(move || backend.remove(&dir)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(Leftover::Storage(e.to_string())),
            Err(e) => Err(Leftover::Storage(e.to_string())),
        };
        let leftover = leftover.and(removed);
        if let Err(e) = &leftover {
            tracing::error!(clone = %id, "{e}");
        }
        leftover
    }

    /// A clone by id.
    pub async fn get_clone(&self, id: &str) -> Result<CloneRecord, EngineError> {
        self.inner
            .state
            .lock()
            .await
            .clones
            .get(id)
            .cloned()
            .ok_or_else(|| EngineError::NotFound(format!("clone {id:?} does not exist")))
    }

    /// Resets a clone to a snapshot, keeping its id, port and credentials.
    pub async fn reset_clone(
        &self,
        id: &str,
        target: ResetTarget,
    ) -> Result<CloneRecord, EngineError> {
        let mut state = self.inner.state.lock().await;
        let latest = state.latest_snapshot().map(|s| s.id.clone());
        let known = |sid: &str| state.snapshot(sid).is_some();
        let snapshot_id = {
            let record = state
                .clones
                .get(id)
                .ok_or_else(|| EngineError::NotFound(format!("clone {id:?} does not exist")))?;
            if !matches!(record.status.code, StatusCode::Ok | StatusCode::Fatal) {
                return Err(EngineError::BadRequest(format!(
                    "clone {id:?} is {}; reset it once it is OK",
                    record.status.code.as_str()
                )));
            }
            match target {
                ResetTarget::Own => record.snapshot_id.clone(),
                ResetTarget::Latest => latest
                    .ok_or_else(|| EngineError::Unavailable("the engine has no snapshot".into()))?,
                ResetTarget::Snapshot(sid) if known(&sid) => sid,
                ResetTarget::Snapshot(sid) => {
                    return Err(EngineError::BadRequest(format!(
                        "snapshot {sid:?} does not exist; GET /snapshots lists the snapshots"
                    )))
                }
            }
        };
        let port = match state.clones[id].port {
            Some(p) => p,
            None => self.free_port(&state)?,
        };
        let record = state.clones.get_mut(id).expect("checked above");
        let old_port = record.port;
        record.snapshot_id = snapshot_id;
        record.port = Some(port);
        record.status = Status::of(StatusCode::Resetting);
        let answer = record.clone();
        self.save(&state)?;
        drop(state);
        tracing::info!(clone = %id, snapshot = %answer.snapshot_id, "resetting a clone");

        let engine = self.clone();
        let lock = self.op_lock(id);
        let id = id.to_string();
        self.inner.tasks.spawn(async move {
            let _guard = lock.lock().await;
            // What survives is found again, and refused, before the server restarts.
            let _ = engine.remove_storage(&id, old_port).await;
            engine.materialize(&id, StatusCode::Resetting).await;
        });
        Ok(answer)
    }

    /// Marks a clone `DELETING` and removes it in the background. A protected clone is
    /// refused unless it is `FATAL` or `force` is set (the engine's own expiry).
    pub async fn delete_clone(&self, id: &str, force: bool) -> Result<CloneRecord, EngineError> {
        let mut state = self.inner.state.lock().await;
        let record = state
            .clones
            .get_mut(id)
            .ok_or_else(|| EngineError::NotFound(format!("clone {id:?} does not exist")))?;
        if record.is_protected(Utc::now()) && record.status.code != StatusCode::Fatal && !force {
            return Err(EngineError::BadRequest(format!(
                "clone {id:?} is protected; remove its protection first (PATCH /clone/{id} with \
                 {{\"protected\": false}})"
            )));
        }
        if record.status.code == StatusCode::Deleting {
            return Ok(record.clone());
        }
        record.status = Status::of(StatusCode::Deleting);
        let answer = record.clone();
        self.save(&state)?;
        drop(state);
        tracing::info!(clone = %id, "deleting a clone");

        let engine = self.clone();
        let lock = self.op_lock(id);
        let id = id.to_string();
        self.inner.tasks.spawn(async move {
            let _guard = lock.lock().await;
            engine.forget_observations(&id).await;
            let port = engine
                .inner
                .state
                .lock()
                .await
                .clones
                .get(&id)
                .and_then(|c| c.port);
            let leftover = engine.remove_storage(&id, port).await;
            let mut state = engine.inner.state.lock().await;
            match leftover {
                Ok(()) => {
                    state.clones.remove(&id);
                }
                // The requester, who polls until the clone is gone, sees it FATAL with
                // the reason; its port stays held, so its user is not handed on.
                Err(e) => {
                    if let Some(entry) = state.clones.get_mut(&id) {
                        entry.status = Status {
                            code: StatusCode::Fatal,
                            message: format!("Deleting the clone failed: {e}"),
                        };
                    }
                }
            }
            if let Err(e) = engine.save(&state) {
                tracing::error!(error = %crate::error_chain(&e), "could not save the engine state");
            }
            drop(state);
            engine
                .inner
                .ops
                .lock()
                .expect("op lock map poisoned")
                .remove(&id);
            engine.prune_snapshots().await;
        });
        Ok(answer)
    }

    /// Changes a clone's protection, for `minutes` (0: until removed; `None`: the lease).
    pub async fn set_protected(
        &self,
        id: &str,
        protected: bool,
        minutes: Option<u64>,
    ) -> Result<CloneRecord, EngineError> {
        let till = self.protection_till(minutes, Utc::now());
        let mut state = self.inner.state.lock().await;
        let record = state
            .clones
            .get_mut(id)
            .ok_or_else(|| EngineError::NotFound(format!("clone {id:?} does not exist")))?;
        record.protected = protected;
        record.protected_till = if protected { till } else { None };
        let answer = record.clone();
        self.save(&state)?;
        Ok(answer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_follow_the_api_pattern() {
        assert!(valid_id("preflight-8812-3-main"));
        assert!(valid_id("a.b_c"));
        assert!(!valid_id("-x"));
        assert!(!valid_id("a/b"));
        assert!(!valid_id(""));
        assert!(!valid_id(&"a".repeat(129)));
    }

    #[test]
    fn usernames_are_any_role_name() {
        assert!(valid_username("preflight"));
        assert!(valid_username("ci_alice-smith"));
        assert!(valid_username("1x"));
        assert!(valid_username("a\"b c"));
        assert!(!valid_username(""));
        assert!(!valid_username("pg_monitor"));
        assert!(!valid_username("a\nb"));
        assert!(!valid_username(&"x".repeat(64)));
    }
}
