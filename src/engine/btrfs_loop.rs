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

/// Why btrfs cannot be used here, if it cannot.
pub fn available() -> Result<(), String> {
    if !nix::unistd::geteuid().is_root() {
        return Err("btrfs on a loop device needs root".into());
    }
    let filesystems = std::fs::read_to_string("/proc/filesystems").unwrap_or_default();
    if !filesystems.lines().any(|l| l.trim_end().ends_with("btrfs")) {
        return Err("the kernel has no btrfs (not in /proc/filesystems)".into());
    }
    if crate::child::command("mkfs.btrfs")
        .arg("--version")
        .output()
        .is_err()
    {
        return Err("mkfs.btrfs is missing: apt-get install btrfs-progs".into());
    }
    if !Path::new("/dev/loop-control").exists() {
        return Err("no loop devices (/dev/loop-control is missing)".into());
    }
    Ok(())
}

fn run(cmd: &mut Command, what: &str) -> Result<(), String> {
    let out = cmd.output().map_err(|e| format!("{what}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{what}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(())
}

impl LoopBtrfs {
    /// Makes an image of `size_bytes` (sparse) in `dir` and mounts it on `dir/mnt`.
    pub fn create(dir: &Path, size_bytes: u64) -> Result<LoopBtrfs, String> {
        available()?;
        let image = dir.join("btrfs.img");
        let mount = dir.join("mnt");
        std::fs::create_dir_all(&mount).map_err(|e| format!("create {}: {e}", mount.display()))?;
        let file = std::fs::File::create(&image)
            .map_err(|e| format!("create {}: {e}", image.display()))?;
        file.set_len(size_bytes.max(256 << 20))
            .map_err(|e| format!("size {}: {e}", image.display()))?;
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
