//! Where snapshots and clones live on disk, and how a clone is made from a snapshot.
//!
//! - `btrfs`: a snapshot is a read-only subvolume, a clone a writable snapshot of it.
//!   Making one is a metadata operation: constant time whatever the data's size.
//! - `copy`: plain directories and a full copy per clone (`cp -a --reflink=never`), for
//!   filesystems without copy-on-write. Slow on big data, but works anywhere.
//!
//! The backend is read from the pool directory's filesystem unless configuration names
//! one. The `btrfs` command (btrfs-progs) does the subvolume work.

use serde::{Deserialize, Serialize};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use thiserror::Error;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    Btrfs,
    Copy,
}

/// The configured choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum BackendChoice {
    #[default]
    Auto,
    Btrfs,
    Copy,
}

#[derive(Debug, Error)]
#[error("storage ({backend}): failed to {action}: {reason}")]
pub struct StorageError {
    pub backend: &'static str,
    pub action: String,
    pub reason: String,
}

/// The root inode of every btrfs subvolume.
const BTRFS_SUBVOLUME_INO: u64 = 256;

/// Whether `path` lies on btrfs.
pub fn is_btrfs(path: &Path) -> bool {
    nix::sys::statfs::statfs(path)
        .map(|s| s.filesystem_type() == nix::sys::statfs::BTRFS_SUPER_MAGIC)
        .unwrap_or(false)
}

/// Size and free bytes of the filesystem holding `path`.
pub fn capacity(path: &Path) -> (u64, u64) {
    match nix::sys::statvfs::statvfs(path) {
        Ok(s) => {
            let unit = s.fragment_size();
            (s.blocks() * unit, s.blocks_available() * unit)
        }
        Err(_) => (0, 0),
    }
}

impl Backend {
    /// The backend for a pool directory: from its filesystem, or as configured.
    pub fn for_pool(pool: &Path, choice: BackendChoice) -> Result<Backend, StorageError> {
        let btrfs = is_btrfs(pool);
        match choice {
            BackendChoice::Auto if btrfs => Ok(Backend::Btrfs),
            BackendChoice::Auto | BackendChoice::Copy => Ok(Backend::Copy),
            BackendChoice::Btrfs if btrfs => Ok(Backend::Btrfs),
            BackendChoice::Btrfs => Err(StorageError {
                backend: "btrfs",
                action: format!("use {}", pool.display()),
                reason: "the pool directory is not on btrfs; prepare one with ops/btrfs-pool.sh \
                         or set `backend: copy`"
                    .into(),
            }),
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Backend::Btrfs => "btrfs",
            Backend::Copy => "copy",
        }
    }

    fn error(&self, action: impl Into<String>, reason: impl std::fmt::Display) -> StorageError {
        StorageError {
            backend: self.name(),
            action: action.into(),
            reason: reason.to_string(),
        }
    }

    fn run(
        &self,
        program: &str,
        args: &[&std::ffi::OsStr],
        action: &str,
    ) -> Result<(), StorageError> {
        let out = crate::child::command(program)
            .args(args)
            .output()
            .map_err(|e| self.error(action, format!("cannot run {program}: {e}")))?;
        if !out.status.success() {
            return Err(self.error(action, String::from_utf8_lossy(&out.stderr).trim()));
        }
        Ok(())
    }

    /// A new, empty, writable place to build a snapshot in.
    pub fn create_empty(&self, path: &Path) -> Result<(), StorageError> {
        match self {
            Backend::Btrfs => self.run(
                "btrfs",
                &["subvolume".as_ref(), "create".as_ref(), path.as_os_str()],
                "create a subvolume",
            ),
            Backend::Copy => std::fs::create_dir(path)
                .map_err(|e| self.error(format!("create {}", path.display()), e)),
        }
    }

    /// Turns a finished build directory into the read-only snapshot `to`.
    pub fn seal(&self, building: &Path, to: &Path) -> Result<(), StorageError> {
        match self {
            Backend::Btrfs => {
                self.run(
                    "btrfs",
                    &[
                        "subvolume".as_ref(),
                        "snapshot".as_ref(),
                        "-r".as_ref(),
                        building.as_os_str(),
                        to.as_os_str(),
                    ],
                    "make a read-only snapshot",
                )?;
                self.remove(building)
            }
            Backend::Copy => std::fs::rename(building, to)
                .map_err(|e| self.error(format!("move {} into place", building.display()), e)),
        }
    }

    /// A writable clone `to` of the snapshot `from`.
    pub fn clone_from(&self, from: &Path, to: &Path) -> Result<(), StorageError> {
        match self {
            Backend::Btrfs => self.run(
                "btrfs",
                &[
                    "subvolume".as_ref(),
                    "snapshot".as_ref(),
                    from.as_os_str(),
                    to.as_os_str(),
                ],
                "snapshot a subvolume",
            ),
            Backend::Copy => self.run(
                "cp",
                &[
                    "-a".as_ref(),
                    "--reflink=never".as_ref(),
                    from.as_os_str(),
                    to.as_os_str(),
                ],
                "copy the snapshot",
            ),
        }
    }

    /// Removes a snapshot, clone or build directory; a missing one counts as removed.
    pub fn remove(&self, path: &Path) -> Result<(), StorageError> {
        let Ok(meta) = std::fs::symlink_metadata(path) else {
            return Ok(());
        };
        if *self == Backend::Btrfs && meta.ino() == BTRFS_SUBVOLUME_INO {
            return self.run(
                "btrfs",
                &["subvolume".as_ref(), "delete".as_ref(), path.as_os_str()],
                "delete a subvolume",
            );
        }
        std::fs::remove_dir_all(path)
            .map_err(|e| self.error(format!("remove {}", path.display()), e))
    }

    /// Whether `path` is a subvolume (btrfs) or a directory (copy).
    pub fn holds(&self, path: &Path) -> bool {
        match std::fs::symlink_metadata(path) {
            Ok(m) if *self == Backend::Btrfs => m.ino() == BTRFS_SUBVOLUME_INO,
            Ok(m) => m.is_dir(),
            Err(_) => false,
        }
    }
}

/// The pool's layout: `snapshots/<id>`, `clones/<id>`, `sockets/<port>`, `state.json`.
#[derive(Debug, Clone)]
pub struct PoolPaths {
    pub root: PathBuf,
}

impl PoolPaths {
    pub fn snapshots(&self) -> PathBuf {
        self.root.join("snapshots")
    }
    pub fn snapshot(&self, id: &str) -> PathBuf {
        self.snapshots().join(id)
    }
    pub fn clones(&self) -> PathBuf {
        self.root.join("clones")
    }
    pub fn clone_dir(&self, id: &str) -> PathBuf {
        self.clones().join(id)
    }
    /// Where servers put their Unix sockets: in the pool, unless its path is too long
    /// for a socket path (107 bytes), then under /tmp, named after the pool.
    pub fn sockets(&self) -> PathBuf {
        let inside = self.root.join("sockets");
        if inside.as_os_str().len() <= 64 {
            return inside;
        }
        use sha2::{Digest, Sha256};
        let digest = Sha256::digest(self.root.as_os_str().as_encoded_bytes());
        let hex: String = digest.iter().take(6).map(|b| format!("{b:02x}")).collect();
        PathBuf::from(format!("/tmp/preflight-engine-{hex}"))
    }
    pub fn socket_dir(&self, port: u16) -> PathBuf {
        self.sockets().join(port.to_string())
    }
    /// The socket directory of a snapshot being built (one build at a time).
    pub fn build_socket_dir(&self) -> PathBuf {
        self.sockets().join("build")
    }
    pub fn state_file(&self) -> PathBuf {
        self.root.join("state.json")
    }
    pub fn lock_file(&self) -> PathBuf {
        self.root.join("engine.lock")
    }
}
