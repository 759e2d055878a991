//! Snapshots: a checkpointed, cleanly stopped copy of the source, sealed read-only in
//! the pool. A refresh builds the next one beside the old ones (clones of older
//! snapshots keep running), then the oldest beyond `keep_snapshots` go once no clone
//! uses them. Only one refresh runs at a time.

use super::state::SnapshotRecord;
use super::{Engine, EngineError};
use crate::config::file::SourceSection;
use crate::pg::dataset::{demo_sql, filler_sql};
use crate::pg::load::load;
use crate::pg::server::PgServer;
use chrono::Utc;
use sha2::{Digest, Sha256};
use std::path::Path;

/// A digest of what a snapshot is built from: the source, the database, the hook's
/// files. An in-process engine rebuilds when it changes.
pub fn source_key(
    source: &SourceSection,
    db_name: &str,
    preprocess_dir: Option<&Path>,
) -> Result<String, EngineError> {
    let mut h = Sha256::new();
    h.update(b"snapshot-v3\0");
    h.update(db_name.as_bytes());
    let read = |path: &Path| {
        std::fs::read(path)
            .map_err(|e| EngineError::BadRequest(format!("cannot read {}: {e}", path.display())))
    };
    match source {
        SourceSection::Demo { rows } => h.update(demo_sql(*rows).as_bytes()),
        SourceSection::Filler { size_mb } => h.update(filler_sql(*size_mb).as_bytes()),
        SourceSection::SqlFile { path } => h.update(read(path)?),
        SourceSection::Url { url } => h.update(url.expose().as_bytes()),
        SourceSection::Physical { connstr } => h.update(connstr.expose().as_bytes()),
        SourceSection::DataDir { path } => h.update(path.as_os_str().as_encoded_bytes()),
    }
    if let Some(dir) = preprocess_dir {
        let mut files: Vec<_> = std::fs::read_dir(dir)
            .map_err(|e| EngineError::BadRequest(format!("cannot read {}: {e}", dir.display())))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        files.sort();
        for f in files {
            h.update(f.as_os_str().as_encoded_bytes());
            h.update(read(&f)?);
        }
    }
    Ok(h.finalize()
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// Bytes of the files under `path` (what a full copy costs).
pub fn tree_size(path: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(path) else {
        return 0;
    };
    entries
        .filter_map(|e| e.ok())
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => tree_size(&e.path()),
            Ok(t) if t.is_file() => e.metadata().map(|m| m.len()).unwrap_or(0),
            _ => 0,
        })
        .sum()
}

impl Engine {
    /// The key of the configured source.
    pub fn configured_source_key(&self) -> Result<String, EngineError> {
        let cfg = &self.inner.cfg;
        source_key(&cfg.source, &cfg.db_name, cfg.preprocess_dir.as_deref())
    }

    /// Builds a snapshot of the configured source unless the newest one already is one.
    pub async fn ensure_snapshot(&self) -> Result<SnapshotRecord, EngineError> {
        let key = self.configured_source_key()?;
        if let Some(s) = self.inner.state.lock().await.latest_snapshot() {
            if s.source_key == key {
                return Ok(s.clone());
            }
        }
        self.refresh().await
    }

    /// Builds a new snapshot from the configured source and keeps the newest N.
    pub async fn refresh(&self) -> Result<SnapshotRecord, EngineError> {
        let _one_at_a_time = self.inner.refresh.lock().await;
        self.inner.refresh_status.lock().expect("poisoned").running = true;
        let result = self.build_snapshot().await;
        {
            let mut status = self.inner.refresh_status.lock().expect("poisoned");
            status.running = false;
            status.last_refresh = Some(Utc::now());
            status.last_error = result.as_ref().err().map(|e| e.to_string());
        }
        let snapshot = result?;
        self.prune_snapshots().await;
        Ok(snapshot)
    }

    async fn build_snapshot(&self) -> Result<SnapshotRecord, EngineError> {
        let cfg = &self.inner.cfg;
        let key = self.configured_source_key()?;
        let now = Utc::now();
        let mut id = format!("snapshot_{}", now.format("%Y%m%d%H%M%S"));
        {
            let state = self.inner.state.lock().await;
            let mut n = 1;
            while state.snapshot(&id).is_some() || self.inner.paths.snapshot(&id).exists() {
                n += 1;
                id = format!("snapshot_{}_{n}", now.format("%Y%m%d%H%M%S"));
            }
        }
        let building = self.inner.paths.snapshots().join(format!("{id}.building"));
        let backend = self.inner.backend;
        tracing::info!(snapshot = %id, backend = backend.name(), "building a snapshot");
        backend
            .create_empty(&building)
            .map_err(EngineError::internal)?;
        // The source's own major where it has one (production's), else the configured.
        let default = self.default_bin_dir()?;
        let source_major = crate::pg::load::source_major(&cfg.source, &default)
            .await
            .map_err(EngineError::internal)?;
        let bin_dir = match (&cfg.pg_bin_dir, source_major) {
            (None, Some(major)) => self
                .majors()
                .bin_dir(major)
                .map_err(EngineError::internal)?,
            _ => default,
        };
        let server = PgServer {
            bin_dir,
            data_dir: building.join("data"),
            socket_dir: self.inner.paths.build_socket_dir(),
            log_file: building.join("build.log"),
            run_as: self.inner.run_as,
            confined: false,
        };
        let built = async {
            let _ = std::fs::remove_dir_all(&server.socket_dir);
            self.inner
                .run_as
                .own(&building)
                .map_err(EngineError::internal)?;
            self.inner
                .run_as
                .private_dir(&server.socket_dir)
                .map_err(EngineError::internal)?;
            let majors = self.majors();
            let loaded = load(
                &server,
                &cfg.source,
                &cfg.db_name,
                cfg.preprocess_dir.as_deref(),
                cfg.pg_bin_dir.is_none().then_some(&majors),
            )
            .await
            .map_err(EngineError::internal)?;
            let _ = std::fs::remove_dir_all(&server.socket_dir);
            let physical_size = tree_size(&building);
            let target = self.inner.paths.snapshot(&id);
            let b = building.clone();
            tokio::task::spawn_blocking(move || backend.seal(&b, &target))
                .await
                .map_err(EngineError::internal)?
                .map_err(EngineError::internal)?;
            Ok::<_, EngineError>((loaded, physical_size))
        }
        .await;
        let (loaded, physical_size) = match built {
            Ok(b) => b,
            Err(e) => {
                let _ = backend.remove(&building);
                tracing::error!(snapshot = %id, error = %crate::error_chain(&e), "snapshot build failed");
                return Err(e);
            }
        };
        let record = SnapshotRecord {
            id: id.clone(),
            created_at: Utc::now(),
            data_state_at: now,
            source_key: key,
            databases: loaded.databases,
            logical_size: loaded.logical_size,
            physical_size,
            owner: crate::pg::role::OWNER_ROLE.into(),
            branch: super::MAIN_BRANCH.into(),
            parent: None,
            message: String::new(),
            retention: Default::default(),
        };
        let mut state = self.inner.state.lock().await;
        state.snapshots.push(record.clone());
        self.save(&state)?;
        tracing::info!(snapshot = %id, bytes = physical_size, "snapshot ready");
        Ok(record)
    }

    /// Removes snapshots of the source beyond the newest `keep_snapshots` that no clone
    /// and no snapshot of a clone builds on (those of clones are removed by hand).
    pub async fn prune_snapshots(&self) {
        let mut state = self.inner.state.lock().await;
        let mut by_age: Vec<_> = state
            .snapshots
            .iter()
            .filter(|s| s.parent.is_none())
            .cloned()
            .collect();
        by_age.sort_by_key(|s| std::cmp::Reverse(s.created_at));
        let doomed: Vec<String> = by_age
            .iter()
            .skip(self.inner.cfg.keep_snapshots)
            .filter(|s| state.clones_of(&s.id) == 0 && !state.is_built_on(&s.id))
            .map(|s| s.id.clone())
            .collect();
        if doomed.is_empty() {
            return;
        }
        state.snapshots.retain(|s| !doomed.contains(&s.id));
        if let Err(e) = self.save(&state) {
            tracing::error!(error = %crate::error_chain(&e), "could not save the engine state");
            return;
        }
        drop(state);
        for id in doomed {
            let path = self.inner.paths.snapshot(&id);
            let backend = self.inner.backend;
            match tokio::task::spawn_blocking(move || backend.remove(&path)).await {
                Ok(Ok(())) => tracing::info!(snapshot = %id, "old snapshot removed"),
                other => tracing::error!(snapshot = %id, ?other, "removing an old snapshot"),
            }
        }
    }
}
