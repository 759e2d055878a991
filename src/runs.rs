//! Run directories and the sweep after a crash (DESIGN.md rule 5). Each run has a
//! private directory under `$TMPDIR/preflight-runs` (the bridge's socket, the staged
//! migrations) and holds an exclusive lock on `<run>.lock` beside it for as long as it
//! lives. The lock, unlike a pid, means the same thing in every job container sharing
//! the host path, and the kernel drops it when the process dies however it dies. At the
//! start of each run, boxes and run directories whose lock nobody holds belong to a dead
//! run and are removed.

use crate::sandbox::{list_boxes, remove_container};
use bollard::Docker;
use nix::fcntl::{Flock, FlockArg};
use std::fs::File;
use std::path::{Path, PathBuf};

/// A live run's directory and the lock that says it is alive.
pub struct RunDir {
    pub path: PathBuf,
    lock_path: PathBuf,
    _lock: Flock<File>,
}

/// Where run directories live.
pub fn runs_root() -> PathBuf {
    std::env::temp_dir().join("preflight-runs")
}

fn lock_path(root: &Path, run_id: &str) -> PathBuf {
    root.join(format!("{run_id}.lock"))
}

impl RunDir {
    /// Takes the run's lock, then creates its private directory (mode 0700). In that
    /// order: a parallel run's sweep removes a directory whose lock nobody holds, so a
    /// directory made before its lock could vanish under its own run.
    pub fn create(root: &Path, run_id: &str) -> Result<RunDir, String> {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        std::fs::create_dir_all(root)
            .map_err(|e| format!("cannot create {}: {e}", root.display()))?;
        let lock_path = lock_path(root, run_id);
        let identity = |m: std::fs::Metadata| (m.dev(), m.ino());
        let lock = loop {
            let file = File::create(&lock_path)
                .map_err(|e| format!("cannot create {}: {e}", lock_path.display()))?;
            let lock = Flock::lock(file, FlockArg::LockExclusiveNonblock)
                .map_err(|(_, e)| format!("cannot lock {}: {e}", lock_path.display()))?;
            // A sweep may have removed the file between its creation and the lock: then
            // this lock guards nothing, and the next try makes a new file.
            let on_disk = std::fs::metadata(&lock_path).ok().map(identity);
            if on_disk.is_some() && on_disk == lock.metadata().ok().map(identity) {
                break lock;
            }
        };
        let path = root.join(run_id);
        std::fs::create_dir_all(&path)
            .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| format!("cannot secure {}: {e}", path.display()))?;
        Ok(RunDir {
            path,
            lock_path,
            _lock: lock,
        })
    }
}

impl Drop for RunDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
        let _ = std::fs::remove_file(&self.lock_path);
    }
}

/// Whether the run `run_id` is alive: someone holds its lock.
fn alive(root: &Path, run_id: &str) -> bool {
    let Ok(file) = File::open(lock_path(root, run_id)) else {
        return false;
    };
    Flock::lock(file, FlockArg::LockSharedNonblock).is_err()
}

/// Removes boxes and run directories of dead runs; answers what it removed.
pub async fn sweep_dead_runs(docker: &Docker, root: &Path) -> Vec<String> {
    let mut removed = Vec::new();
    for (id, run) in list_boxes(docker, None).await.unwrap_or_default() {
        // Only boxes of `preflight run` (ids `pf-...`), never another tool's.
        if !run.starts_with("pf-") || alive(root, &run) {
            continue;
        }
        if remove_container(docker, &id).await.is_ok() {
            removed.push(format!(
                "box {} of dead run {run}",
                id.get(..12).unwrap_or(&id)
            ));
        }
    }
    let entries = std::fs::read_dir(root).map(|d| d.filter_map(|e| e.ok()).collect::<Vec<_>>());
    for entry in entries.unwrap_or_default() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let run = name.trim_end_matches(".lock");
        if !run.starts_with("pf-") || alive(root, run) {
            continue;
        }
        let path = entry.path();
        let gone = if path.is_dir() {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        };
        if gone.is_ok() {
            removed.push(format!("{} of dead run {run}", path.display()));
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_is_alive_while_its_directory_is_held() {
        let root = tempfile::tempdir().unwrap();
        let run = RunDir::create(root.path(), "pf-1-abc").unwrap();
        assert!(run.path.is_dir());
        assert!(alive(root.path(), "pf-1-abc"));
        drop(run);
        assert!(!alive(root.path(), "pf-1-abc"));
        assert!(!root.path().join("pf-1-abc").exists());
        assert!(!root.path().join("pf-1-abc.lock").exists());
    }
}
