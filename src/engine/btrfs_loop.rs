//! A btrfs filesystem in a sparse loop file, mounted on a directory: what the benchmark
//! and the tests use when the machine has no btrfs disk (ops/btrfs-pool.sh does the
//! same for operators). Needs root, btrfs-progs and a kernel with btrfs; [`available`]
//! says which of these is missing. Unmounted and deleted on drop.

use std::path::{Path, PathBuf};
use std::process::Command;

pub struct LoopBtrfs {
    pub mount: PathBuf,
    image: PathBuf,
}

/// Why btrfs on a loop device cannot be used here, or could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum LoopError {
    #[error("btrfs on a loop device needs root")]
    NotRoot,
    #[error("the kernel has no btrfs (not in /proc/filesystems)")]
    NoKernelSupport,
    #[error("mkfs.btrfs is missing: apt-get install btrfs-progs")]
    NoMkfs,
    #[error("no loop devices (/dev/loop-control is missing)")]
    NoLoopDevices,
    #[error("cannot {what} {}", path.display())]
    File {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{what} could not run")]
    Spawn {
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("{what} failed: {stderr}")]
    Failed { what: &'static str, stderr: String },
}

/// Why btrfs cannot be used here, if it cannot.
pub fn available() -> Result<(), LoopError> {
    if !nix::unistd::geteuid().is_root() {
        return Err(LoopError::NotRoot);
    }
    let filesystems = std::fs::read_to_string("/proc/filesystems").unwrap_or_default();
    if !filesystems.lines().any(|l| l.trim_end().ends_with("btrfs")) {
        return Err(LoopError::NoKernelSupport);
    }
    if crate::child::command("mkfs.btrfs")
        .arg("--version")
        .output()
        .is_err()
    {
        return Err(LoopError::NoMkfs);
    }
    if !Path::new("/dev/loop-control").exists() {
        return Err(LoopError::NoLoopDevices);
    }
    Ok(())
}

fn run(cmd: &mut Command, what: &'static str) -> Result<(), LoopError> {
    let out = cmd
        .output()
        .map_err(|source| LoopError::Spawn { what, source })?;
    if !out.status.success() {
        return Err(LoopError::Failed {
            what,
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(())
}

impl LoopBtrfs {
    /// Makes an image of `size_bytes` (sparse) in `dir` and mounts it on `dir/mnt`.
    pub fn create(dir: &Path, size_bytes: u64) -> Result<LoopBtrfs, LoopError> {
        available()?;
        let image = dir.join("btrfs.img");
        let mount = dir.join("mnt");
        let file_error = |what, path: &Path| {
            let path = path.to_path_buf();
            move |source| LoopError::File { what, path, source }
        };
        std::fs::create_dir_all(&mount).map_err(file_error("create", &mount))?;
        let file = std::fs::File::create(&image).map_err(file_error("create", &image))?;
        file.set_len(size_bytes.max(256 << 20))
            .map_err(file_error("size", &image))?;
        run(
            crate::child::command("mkfs.btrfs")
                .args(["-q", "-f"])
                .arg(&image),
            "mkfs.btrfs",
        )?;
        let pool = LoopBtrfs { mount, image };
        run(
            crate::child::command("mount")
                .args(["-o", "loop"])
                .arg(&pool.image)
                .arg(&pool.mount),
            "mount the btrfs image",
        )?;
        Ok(pool)
    }
}

impl Drop for LoopBtrfs {
    fn drop(&mut self) {
        // Lazy: a clone server still stopping must not keep the loop device busy.
        let _ = crate::child::command("umount")
            .arg("-l")
            .arg(&self.mount)
            .status();
        let _ = std::fs::remove_file(&self.image);
    }
}
