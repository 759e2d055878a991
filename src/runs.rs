//! Run directories and the sweep after a crash (DESIGN.md rule 5). Each run has a
//! private directory under `$TMPDIR/preflight-runs` (the bridge's socket, the staged
//! migrations) and holds an exclusive lock on `<run>.lock` beside it for as long as it
//! lives. The lock, unlike a pid, means the same thing in every job container sharing
//! the host path, and the kernel drops it when the process dies however it dies.
//!
//! A run can only judge runs whose locks it can see: every runs directory has an id of
//! its own ([`root_id`], a random token made once), and each box is labelled with the id
//! of its run's directory. At the start of each run, a box labelled with this directory's
//! id whose lock nobody holds belongs to a dead run and is removed, as are such run
//! directories; a box of another directory (another `TMPDIR`, another job container with
//! a directory of its own) is never touched while it could be alive, only once it is
//! older than any run can last ([`MAX_RUN_AGE_S`]).

use crate::sandbox::{list_boxes, remove_container, BoxInfo};
use bollard::Docker;
use nix::fcntl::{Flock, FlockArg};
use std::fs::File;
use std::path::{Path, PathBuf};

/// A live run's directory and the lock that says it is alive.
pub struct RunDir {
    pub path: PathBuf,
    /// The id of the runs directory it is in ([`root_id`]), for its boxes' labels.
    pub root_id: String,
    lock_path: PathBuf,
    _lock: Flock<File>,
}

/// Where run directories live.
pub fn runs_root() -> PathBuf {
    std::env::temp_dir().join("preflight-runs")
}

/// No run lasts longer than this (a day; the CI job's timeout is hours): a box this old
/// is dead whoever made it.
pub const MAX_RUN_AGE_S: i64 = 24 * 3600;

/// A runs directory, its id or a run's lock could not be made.
#[derive(Debug, thiserror::Error)]
#[error("cannot {doing} {}", path.display())]
pub struct RunsError {
    doing: &'static str,
    path: PathBuf,
    #[source]
    source: std::io::Error,
}

impl RunsError {
    fn at(doing: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> RunsError {
        let path = path.to_path_buf();
        move |source| RunsError {
            doing,
            path,
            source,
        }
    }
}

/// The id of the runs directory `root`: made once (a random token, written whole before
/// anyone can read it), the same for every run that shares the directory.
pub fn root_id(root: &Path) -> Result<String, RunsError> {
    std::fs::create_dir_all(root).map_err(RunsError::at("create", root))?;
    let path = root.join("root-id");
    if let Ok(id) = std::fs::read_to_string(&path) {
        return Ok(id.trim().to_string());
    }
    let token = crate::secret::Secret::generate(24).expose().to_string();
    let tmp = root.join(format!("root-id.{}", std::process::id()));
    std::fs::write(&tmp, &token).map_err(RunsError::at("write", &tmp))?;
    // A hard link never replaces an existing name: the first writer's id stands.
    let _ = std::fs::hard_link(&tmp, &path);
    let _ = std::fs::remove_file(&tmp);
    std::fs::read_to_string(&path)
        .map(|id| id.trim().to_string())
        .map_err(RunsError::at("read", &path))
}

fn lock_path(root: &Path, run_id: &str) -> PathBuf {
    root.join(format!("{run_id}.lock"))
}

impl RunDir {
    /// Takes the run's lock, then creates its private directory (mode 0700). In that
    /// order: a parallel run's sweep removes a directory whose lock nobody holds, so a
    /// directory made before its lock could vanish under its own run.
    pub fn create(root: &Path, run_id: &str) -> Result<RunDir, RunsError> {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        std::fs::create_dir_all(root).map_err(RunsError::at("create", root))?;
        let root_id = root_id(root)?;
        let lock_path = lock_path(root, run_id);
        let identity = |m: std::fs::Metadata| (m.dev(), m.ino());
        let lock = loop {
            let file = File::create(&lock_path).map_err(RunsError::at("create", &lock_path))?;
            let lock = Flock::lock(file, FlockArg::LockExclusiveNonblock)
                .map_err(|(_, e)| RunsError::at("lock", &lock_path)(std::io::Error::from(e)))?;
            // A sweep may have removed the file between its creation and the lock: then
            // this lock guards nothing, and the next try makes a new file.
            let on_disk = std::fs::metadata(&lock_path).ok().map(identity);
            if on_disk.is_some() && on_disk == lock.metadata().ok().map(identity) {
                break lock;
            }
        };
        let path = root.join(run_id);
        std::fs::create_dir_all(&path).map_err(RunsError::at("create", &path))?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o700))
            .map_err(RunsError::at("secure", &path))?;
        Ok(RunDir {
            path,
            root_id,
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

/// Whether a box is provably of a dead run, seen from the runs directory `root` (of id
/// `ours`) at `now`: its run's lock is in this directory and nobody holds it, or it is
/// older than any run lasts.
fn dead(b: &BoxInfo, root: &Path, ours: &str, now: i64) -> bool {
    // Only boxes of `preflight run` (ids `pf-...`), never another tool's.
    if !b.run.starts_with("pf-") {
        return false;
    }
    let judged_here = b.runs_root.as_deref() == Some(ours);
    (judged_here && !alive(root, &b.run)) || now - b.created > MAX_RUN_AGE_S
}

/// Removes boxes and run directories of dead runs; answers what it removed.
pub async fn sweep_dead_runs(docker: &Docker, root: &Path) -> Vec<String> {
    let mut removed = Vec::new();
    let Ok(ours) = root_id(root) else {
        return removed;
    };
    let now = chrono::Utc::now().timestamp();
    for b in list_boxes(docker, None).await.unwrap_or_default() {
        if !dead(&b, root, &ours, now) {
            continue;
        }
        if remove_container(docker, &b.id).await.is_ok() {
            removed.push(format!(
                "box {} of dead run {}",
                b.id.get(..12).unwrap_or(&b.id),
                b.run
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

    #[test]
    fn a_box_is_judged_only_where_its_lock_can_be_seen() {
        let (mine, other) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let (mine_id, other_id) = (
            root_id(mine.path()).unwrap(),
            root_id(other.path()).unwrap(),
        );
        assert_ne!(mine_id, other_id);
        assert_eq!(root_id(mine.path()).unwrap(), mine_id, "made once");
        let now = 1_000_000;
        let boxed = |run: &str, root: &str, created| BoxInfo {
            id: "c0ffee".into(),
            run: run.into(),
            runs_root: Some(root.into()),
            created,
        };
        // A live run of another directory (another TMPDIR): its lock is not here.
        let live_elsewhere = RunDir::create(other.path(), "pf-2-live").unwrap();
        assert!(!dead(
            &boxed("pf-2-live", &other_id, now),
            mine.path(),
            &mine_id,
            now
        ));
        // A dead run of this directory: no one holds its lock.
        assert!(dead(
            &boxed("pf-3-gone", &mine_id, now),
            mine.path(),
            &mine_id,
            now
        ));
        // A live run of this directory.
        let live_here = RunDir::create(mine.path(), "pf-4-live").unwrap();
        assert!(!dead(
            &boxed("pf-4-live", &mine_id, now),
            mine.path(),
            &mine_id,
            now
        ));
        // Anyone's box older than any run lasts.
        let old = now - MAX_RUN_AGE_S - 1;
        assert!(dead(
            &boxed("pf-2-live", &other_id, old),
            mine.path(),
            &mine_id,
            now
        ));
        // Never another tool's.
        assert!(!dead(
            &boxed("other-1", &mine_id, old),
            mine.path(),
            &mine_id,
            now
        ));
        drop((live_elsewhere, live_here));
    }
}
