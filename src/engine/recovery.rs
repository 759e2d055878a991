//! What an engine does when it opens a pool an earlier run used (after a restart or a
//! crash): clones whose server still answers are adopted (or, for an in-process engine,
//! removed); clones caught half-way (creating, resetting, deleting) or whose server is
//! gone are removed; every clone directory, socket directory and half-built snapshot the
//! state does not list is removed, after stopping any server still running on it. So no
//! subvolume, data directory or server process outlives the state that owns it.

use super::state::StatusCode;
use super::{Engine, EngineError};
use std::collections::BTreeSet;

impl Engine {
    pub(crate) async fn recover(&self) -> Result<(), EngineError> {
        let adopt = self.inner.cfg.adopt_clones;
        let mut state = self.inner.state.lock().await;
        let paths = self.inner.paths.clone();
        let backend = self.inner.backend;

        // Snapshots: keep those listed and present; drop the rest.
        state
            .snapshots
            .retain(|s| backend.holds(&paths.snapshot(&s.id)));
        let known_snapshots: BTreeSet<String> =
            state.snapshots.iter().map(|s| s.id.clone()).collect();

        // Clones: adopt the healthy ones.
        let mut keep = BTreeSet::new();
        let mut remove = Vec::new();
        for (id, record) in &state.clones {
            let healthy = match record.port {
                Some(port)
                    if adopt
                        && record.status.code == StatusCode::Ok
                        && known_snapshots.contains(&record.snapshot_id)
                        && backend.holds(&paths.clone_dir(id)) =>
                {
                    let server = self.clone_server(id, port);
                    server.running_pid().is_some()
                        && server.answers(port).await
                        && self.relay_port(id, &server, port).await.is_ok()
                }
                _ => false,
            };
            if healthy {
                keep.insert(id.clone());
            } else {
                remove.push((id.clone(), record.port));
            }
        }
        for (id, port) in &remove {
            tracing::warn!(clone = %id, "removing a clone an earlier run left unhealthy or unfinished");
            // A survivor is found again, and refused, before its user is handed on.
            let _ = self.remove_storage(id, *port).await;
            state.clones.remove(id);
        }
        for id in &keep {
            tracing::info!(clone = %id, "adopted a running clone");
        }

        // Anything on disk the state does not list.
        for entry in read_names(&paths.clones()) {
            if !keep.contains(&entry) {
                tracing::warn!(clone = %entry, "removing an orphaned clone directory");
                self.stop_orphan_server(&paths.clone_dir(&entry).join("data"))
                    .await;
                let dir = paths.clone_dir(&entry);
                if let Err(e) = backend.remove(&dir) {
                    tracing::error!(error = %crate::error_chain(&e), "removing an orphaned clone directory");
                }
            }
        }
        let ports: BTreeSet<String> = state
            .clones
            .values()
            .filter_map(|c| c.port.map(|p| p.to_string()))
            .collect();
        for entry in read_names(&paths.sockets()) {
            if !ports.contains(&entry) {
                let _ = std::fs::remove_dir_all(paths.sockets().join(entry));
            }
        }
        for entry in read_names(&paths.snapshots()) {
            if !known_snapshots.contains(&entry) {
                tracing::warn!(snapshot = %entry, "removing an unfinished or unlisted snapshot");
                let dir = paths.snapshots().join(&entry);
                self.stop_orphan_server(&dir.join("data")).await;
                if let Err(e) = backend.remove(&dir) {
                    tracing::error!(error = %crate::error_chain(&e), "removing an unlisted snapshot");
                }
            }
        }
        self.save(&state)
    }

    /// Stops a server found running on a data directory nobody owns any more.
    async fn stop_orphan_server(&self, data_dir: &std::path::Path) {
        let server = crate::pg::server::PgServer {
            bin_dir: self.bin_dir_for(data_dir),
            data_dir: data_dir.to_path_buf(),
            socket_dir: data_dir.to_path_buf(),
            log_file: data_dir.join("orphan.log"),
            run_as: self.inner.run_as,
            confined: false,
        };
        if server.running_pid().is_some() {
            let _ = server.stop(crate::pg::server::StopMode::Immediate).await;
        }
    }
}

fn read_names(dir: &std::path::Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}
