//! Branches and snapshots of clones (DLE 4), on btrfs. A snapshot of a clone is one more
//! read-only subvolume snapshot of the clone's directory, taken right after a
//! `CHECKPOINT` (so a clone of it recovers almost nothing) and lands on the clone's
//! branch as its new head. A branch is a name for a head snapshot; `main` is the line of
//! snapshots of the source. A clone made with `branch` starts from that branch's head.
//! On the copy backend a running server cannot be copied consistently, so snapshots of
//! clones are refused there.

use super::state::{SnapshotRecord, StatusCode};
use super::storage::Backend;
use super::{Engine, EngineError, MAIN_BRANCH};
use chrono::Utc;

/// Files of a running server that a snapshot must not carry.
const RUNTIME_FILES: &[&str] = &["postmaster.pid", "postmaster.opts"];

fn bad(message: String) -> EngineError {
    EngineError::BadRequest(message)
}

impl Engine {
    /// Snapshots a ready clone onto its branch; answers the new snapshot.
    pub async fn snapshot_clone(
        &self,
        clone_id: &str,
        message: &str,
    ) -> Result<SnapshotRecord, EngineError> {
        if self.inner.backend != Backend::Btrfs {
            return Err(bad(
                "snapshots of clones need the btrfs backend (a running server cannot be \
                 copied consistently); put the pool on btrfs (ops/btrfs-pool.sh)"
                    .into(),
            ));
        }
        let lock = self.op_lock(clone_id);
        let _guard = lock.lock().await;
        let clone = self.get_clone(clone_id).await?;
        let port = match (clone.status.code, clone.port) {
            (StatusCode::Ok, Some(port)) => port,
            _ => {
                return Err(bad(format!(
                    "clone {clone_id:?} is {}; snapshot it once it is OK",
                    clone.status.code.as_str()
                )))
            }
        };
        let parent = self
            .read(|s| s.snapshot(&clone.snapshot_id).cloned())
            .await
            .ok_or_else(|| EngineError::internal("the clone's snapshot is gone"))?;
        let server = self.clone_server(clone_id, port);
        server
            .connect(port, &clone.db.db_name)
            .await
            .map_err(EngineError::internal)?
            .batch_execute("CHECKPOINT")
            .await
            .map_err(EngineError::internal)?;
        let now = Utc::now();
        let id = format!("{}_{}", clone.branch, now.format("%Y%m%d%H%M%S%3f"));
        let building = self.inner.paths.snapshots().join(format!("{id}.building"));
        let target = self.inner.paths.snapshot(&id);
        let from = self.inner.paths.clone_dir(clone_id);
        let run_as = self.inner.run_as;
        let made = tokio::task::spawn_blocking(move || {
            let backend = Backend::Btrfs;
            backend
                .clone_from(&from, &building)
                .map_err(EngineError::internal)?;
            let data = building.join("data");
            for f in RUNTIME_FILES {
                let _ = std::fs::remove_file(data.join(f));
            }
            // What is not the data (the server's log, the relay's files) stays behind.
            if let Ok(entries) = std::fs::read_dir(&building) {
                for e in entries.flatten().filter(|e| e.file_name() != "data") {
                    let _ = std::fs::remove_file(e.path());
                }
            }
            let sealed = run_as
                .own(&building)
                .map_err(EngineError::internal)
                .and_then(|()| {
                    backend
                        .seal(&building, &target)
                        .map_err(EngineError::internal)
                });
            if sealed.is_err() {
                let _ = backend.remove(&building);
            }
            sealed
        })
        .await
        .map_err(EngineError::internal)?;
        made?;
        let record = SnapshotRecord {
            id: id.clone(),
            created_at: now,
            data_state_at: now,
            source_key: parent.source_key.clone(),
            databases: parent.databases.clone(),
            logical_size: parent.logical_size,
            physical_size: 0,
            owner: clone.db.username.clone(),
            branch: clone.branch.clone(),
            parent: Some(parent.id.clone()),
            message: message.to_string(),
            retention: Default::default(),
        };
        let mut state = self.inner.state.lock().await;
        state.snapshots.push(record.clone());
        if clone.branch != MAIN_BRANCH {
            state.branches.insert(clone.branch.clone(), id.clone());
        }
        self.save(&state)?;
        tracing::info!(clone = %clone_id, snapshot = %id, branch = %clone.branch, "snapshot of a clone");
        Ok(record)
    }

    /// A new branch whose head is `snapshot_id`, or `base`'s head (default `main`).
    pub async fn create_branch(
        &self,
        name: &str,
        base: Option<&str>,
        snapshot_id: Option<&str>,
    ) -> Result<String, EngineError> {
        if !super::lifecycle::valid_id(name) {
            return Err(bad(format!(
                "branch name {name:?} is not allowed: use ^[a-zA-Z0-9][a-zA-Z0-9_.-]*$"
            )));
        }
        let mut state = self.inner.state.lock().await;
        if name == MAIN_BRANCH || state.branches.contains_key(name) {
            return Err(bad(format!("branch {name:?} already exists")));
        }
        let head = match (snapshot_id, base) {
            (Some(_), Some(_)) => {
                return Err(bad("give either baseBranch or snapshotID, not both".into()))
            }
            (Some(sid), None) => state.snapshot(sid).map(|s| s.id.clone()).ok_or_else(|| {
                bad(format!(
                    "snapshot {sid:?} does not exist; GET /snapshots lists them"
                ))
            })?,
            (None, base) => {
                let base = base.unwrap_or(MAIN_BRANCH);
                state
                    .branch_head(base)
                    .map(|s| s.id.clone())
                    .ok_or_else(|| bad(format!("branch {base:?} does not exist")))?
            }
        };
        state.branches.insert(name.to_string(), head);
        self.save(&state)?;
        Ok(name.to_string())
    }

    /// Every branch: name, head, the branch its line started from, its snapshots.
    pub async fn branches(&self) -> Vec<crate::dle_api::BranchView> {
        let state = self.inner.state.lock().await;
        let mut names = vec![MAIN_BRANCH.to_string()];
        names.extend(state.branches.keys().cloned());
        names
            .into_iter()
            .filter_map(|name| {
                let head = state.branch_head(&name)?;
                let retention = state
                    .branch_retention
                    .get(&name)
                    .cloned()
                    .unwrap_or_default();
                let line = self.line_of(&state, head);
                let parent = line
                    .iter()
                    .map(|s| s.branch.as_str())
                    .find(|b| *b != name)
                    .unwrap_or("-")
                    .to_string();
                Some(crate::dle_api::BranchView {
                    base_dataset: self.inner.paths.snapshots().display().to_string(),
                    parent,
                    data_state_at: head
                        .data_state_at
                        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                    snapshot_id: head.id.clone(),
                    dataset: self.inner.paths.snapshot(&head.id).display().to_string(),
                    num_snapshots: line.iter().filter(|s| s.branch == name).count() as u64,
                    retention: retention.view(),
                    name,
                })
            })
            .collect()
    }

    /// A branch's history, newest first (`GET /branch/{name}/log`).
    pub async fn branch_log(
        &self,
        name: &str,
    ) -> Result<Vec<crate::dle_api::SnapshotDetails>, EngineError> {
        let state = self.inner.state.lock().await;
        let head = state
            .branch_head(name)
            .ok_or_else(|| EngineError::NotFound(format!("branch {name:?} does not exist")))?;
        Ok(self
            .line_of(&state, head)
            .into_iter()
            .map(|s| self.details_of(&state, s))
            .collect())
    }

    /// One snapshot as a branch's log shows it (`GET /branch/snapshot/{id}`).
    pub async fn snapshot_details(
        &self,
        id: &str,
    ) -> Result<crate::dle_api::SnapshotDetails, EngineError> {
        let state = self.inner.state.lock().await;
        let s = state
            .snapshot(id)
            .ok_or_else(|| EngineError::NotFound(format!("snapshot {id:?} does not exist")))?;
        Ok(self.details_of(&state, s))
    }

    fn details_of(
        &self,
        state: &super::state::State,
        s: &SnapshotRecord,
    ) -> crate::dle_api::SnapshotDetails {
        crate::dle_api::SnapshotDetails {
            id: s.id.clone(),
            parent: s.parent.clone().unwrap_or_else(|| "-".into()),
            child: state
                .snapshots
                .iter()
                .filter(|c| c.parent.as_deref() == Some(&s.id))
                .map(|c| c.id.clone())
                .collect(),
            branch: vec![s.branch.clone()],
            root: Vec::new(),
            data_state_at: s
                .data_state_at
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            message: s.message.clone(),
            dataset: self.inner.paths.snapshot(&s.id).display().to_string(),
            clones: state.clone_ids_of(&s.id),
            protected: false,
        }
    }

    /// From a snapshot back through the snapshots its clones were made of.
    fn line_of<'a>(
        &self,
        state: &'a super::state::State,
        head: &'a SnapshotRecord,
    ) -> Vec<&'a SnapshotRecord> {
        let mut line = vec![head];
        while let Some(parent) = line
            .last()
            .and_then(|s| s.parent.as_deref())
            .and_then(|p| state.snapshot(p))
        {
            if line.len() > state.snapshots.len() {
                break;
            }
            line.push(parent);
        }
        line
    }

    /// Deletes a branch (not `main`, not one a clone is on); its snapshots that nothing
    /// else uses go with it.
    pub async fn delete_branch(&self, name: &str) -> Result<(), EngineError> {
        let mut state = self.inner.state.lock().await;
        if name == MAIN_BRANCH {
            return Err(bad("branch \"main\" cannot be deleted".into()));
        }
        if !state.branches.contains_key(name) {
            return Err(EngineError::NotFound(format!(
                "branch {name:?} does not exist"
            )));
        }
        if state
            .branch_retention
            .get(name)
            .is_some_and(|r| r.is_protected(Utc::now()))
        {
            return Err(bad(format!(
                "branch {name:?} is protected; remove its protection first (PATCH /branch/{name})"
            )));
        }
        if let Some(c) = state.clones.values().find(|c| c.branch == name) {
            return Err(bad(format!(
                "clone {:?} is on branch {name:?}; delete it first",
                c.id
            )));
        }
        state.branches.remove(name);
        state.branch_retention.remove(name);
        self.save(&state)?;
        let own: Vec<String> = state
            .snapshots
            .iter()
            .filter(|s| s.branch == name)
            .map(|s| s.id.clone())
            .collect();
        drop(state);
        for id in own.iter().rev() {
            let _ = self.delete_snapshot(id).await;
        }
        Ok(())
    }

    /// Deletes a snapshot no clone, snapshot or branch builds on, and not the newest of
    /// the source.
    pub async fn delete_snapshot(&self, id: &str) -> Result<(), EngineError> {
        let mut state = self.inner.state.lock().await;
        if state.snapshot(id).is_none() {
            return Err(EngineError::NotFound(format!(
                "snapshot {id:?} does not exist"
            )));
        }
        let protected = state
            .snapshot(id)
            .is_some_and(|s| s.retention.is_protected(Utc::now()));
        let refuse = if protected {
            Some("it is protected; remove its protection first (PATCH /snapshot/{id})")
        } else if state.clones_of(id) > 0 {
            Some("clones use it; delete them first")
        } else if state.is_built_on(id) {
            Some("a branch or a snapshot of a clone builds on it; delete those first")
        } else if state.latest_snapshot().is_some_and(|s| s.id == id) {
            Some("it is the newest snapshot of the source, which new clones use")
        } else {
            None
        };
        if let Some(why) = refuse {
            return Err(bad(format!("snapshot {id:?} cannot be deleted: {why}")));
        }
        state.snapshots.retain(|s| s.id != id);
        self.save(&state)?;
        drop(state);
        let path = self.inner.paths.snapshot(id);
        let backend = self.inner.backend;
        tokio::task::spawn_blocking(move || backend.remove(&path))
            .await
            .map_err(EngineError::internal)?
            .map_err(EngineError::internal)?;
        tracing::info!(snapshot = %id, "snapshot deleted");
        Ok(())
    }
}

impl Engine {
    /// Applies a protection or deletion schedule as DLE does: protecting clears a
    /// scheduled deletion and scheduling one clears protection; both at once is refused.
    fn updated(
        &self,
        old: &super::state::Retention,
        update: &crate::dle_api::RetentionUpdate,
    ) -> Result<super::state::Retention, EngineError> {
        let mut r = old.clone();
        match (update.protected, update.delete_at) {
            (Some(true), Some(_)) => {
                return Err(bad(
                    "give either protected or deleteAt, not both: they exclude each other".into(),
                ))
            }
            (Some(true), None) => {
                r.protected = true;
                r.protected_till =
                    self.protection_till(update.protection_duration_minutes, Utc::now());
                r.delete_at = None;
            }
            (Some(false), at) => {
                r.protected = false;
                r.protected_till = None;
                r.delete_at = at.or(r.delete_at);
            }
            (None, Some(at)) => {
                r.protected = false;
                r.protected_till = None;
                r.delete_at = Some(at);
            }
            (None, None) => {}
        }
        Ok(r)
    }

    pub async fn update_snapshot(
        &self,
        id: &str,
        update: &crate::dle_api::RetentionUpdate,
    ) -> Result<(), EngineError> {
        let mut state = self.inner.state.lock().await;
        let old = state
            .snapshot(id)
            .map(|s| s.retention.clone())
            .ok_or_else(|| EngineError::NotFound(format!("snapshot {id:?} does not exist")))?;
        let new = self.updated(&old, update)?;
        if let Some(s) = state.snapshots.iter_mut().find(|s| s.id == id) {
            s.retention = new;
        }
        self.save(&state)
    }

    pub async fn update_branch(
        &self,
        name: &str,
        update: &crate::dle_api::RetentionUpdate,
    ) -> Result<crate::dle_api::UpdateBranchResponse, EngineError> {
        let mut state = self.inner.state.lock().await;
        if state.branch_head(name).is_none() {
            return Err(EngineError::NotFound(format!(
                "branch {name:?} does not exist"
            )));
        }
        let old = state
            .branch_retention
            .get(name)
            .cloned()
            .unwrap_or_default();
        let new = self.updated(&old, update)?;
        state.branch_retention.insert(name.to_string(), new.clone());
        self.save(&state)?;
        Ok(crate::dle_api::UpdateBranchResponse {
            name: name.to_string(),
            retention: new.view(),
        })
    }

    /// Deletes the snapshots and branches whose `deleteAt` has come (those something
    /// still builds on stay, and are tried again at the next pass).
    pub async fn delete_due(&self) {
        let now = Utc::now();
        let (snapshots, branches): (Vec<String>, Vec<String>) = self
            .read(|state| {
                (
                    state
                        .snapshots
                        .iter()
                        .filter(|s| s.retention.is_due(now))
                        .map(|s| s.id.clone())
                        .collect(),
                    state
                        .branch_retention
                        .iter()
                        .filter(|(name, r)| *name != MAIN_BRANCH && r.is_due(now))
                        .map(|(name, _)| name.clone())
                        .collect(),
                )
            })
            .await;
        for name in branches {
            if let Err(e) = self.delete_branch(&name).await {
                tracing::warn!(branch = %name, error = %crate::error_chain(&e), "scheduled deletion postponed");
            }
        }
        for id in snapshots {
            if let Err(e) = self.delete_snapshot(&id).await {
                tracing::warn!(snapshot = %id, error = %crate::error_chain(&e), "scheduled deletion postponed");
            }
        }
    }
}
