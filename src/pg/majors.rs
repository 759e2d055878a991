//! PostgreSQL majors on this host, and which one a data directory needs. A clone runs the
//! major of the data it holds (`PG_VERSION`), so a rehearsal runs production's planner,
//! locks, syntax and errors. A major is found where Debian's own packages put it
//! (`/usr/lib/postgresql/<major>/bin`) or where `ops/pg-major.sh` prepared it from the
//! Debian suite that carries it (`<prepared>/<major>/root/usr/lib/postgresql/<major>/bin`,
//! with a `ready` mark once its programs are patched to load that suite's libraries).

use std::path::{Path, PathBuf};

/// Where `ops/pg-major.sh` prepares majors unless told otherwise.
pub const PREPARED: &str = "/var/cache/preflight/pg";

/// Where the host's own packages put each major.
const PACKAGED: &str = "/usr/lib/postgresql";

/// A major this host cannot run.
#[derive(Debug, thiserror::Error)]
#[error(
    "PostgreSQL {major} is not on this host (available: {}); prepare it with \
     ops/pg-major.sh {major}",
    list(available)
)]
pub struct MissingMajor {
    pub major: u32,
    pub available: Vec<u32>,
}

fn list(majors: &[u32]) -> String {
    match majors {
        [] => "none".into(),
        _ => majors
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(", "),
    }
}

/// The majors on this host, in the host's packages or prepared under `prepared`, lowest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Majors {
    prepared: PathBuf,
}

impl Majors {
    pub fn new(prepared: &Path) -> Majors {
        Majors {
            prepared: prepared.to_path_buf(),
        }
    }

    /// The bin directory of `major`, if this host has it.
    pub fn find(&self, major: u32) -> Option<PathBuf> {
        let packaged = Path::new(PACKAGED).join(major.to_string()).join("bin");
        if packaged.join("postgres").is_file() {
            return Some(packaged);
        }
        let root = self.prepared.join(major.to_string());
        let bin = root
            .join("root/usr/lib/postgresql")
            .join(major.to_string())
            .join("bin");
        (root.join("ready").is_file() && bin.join("postgres").is_file()).then_some(bin)
    }

    /// The root file system `ops/pg-major.sh` prepared for `major`, if it did: its
    /// programs find their loader and libraries under it, so it can be mounted at the same
    /// path into a container and its `psql` run there.
    pub fn prepared_root(&self, major: u32) -> Option<PathBuf> {
        let root = self.prepared.join(major.to_string());
        root.join("ready").is_file().then(|| root.join("root"))
    }

    /// The bin directory of `major`, or why not.
    pub fn bin_dir(&self, major: u32) -> Result<PathBuf, MissingMajor> {
        self.find(major).ok_or_else(|| MissingMajor {
            major,
            available: self.available(),
        })
    }

    /// Every major this host has, lowest first.
    pub fn available(&self) -> Vec<u32> {
        let mut majors: Vec<u32> = [Path::new(PACKAGED), self.prepared.as_path()]
            .iter()
            .filter_map(|dir| std::fs::read_dir(dir).ok())
            .flatten()
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
            .filter(|m| self.find(*m).is_some())
            .collect();
        majors.sort_unstable();
        majors.dedup();
        majors
    }

    /// The newest major this host has.
    pub fn newest(&self) -> Option<u32> {
        self.available().last().copied()
    }
}

/// The major a data directory was made by (its `PG_VERSION`: `17`, or `9.6` before 10).
pub fn of_data_dir(data: &Path) -> Option<u32> {
    let text = std::fs::read_to_string(data.join("PG_VERSION")).ok()?;
    parse_major(text.trim())
}

/// The major of a version as servers say it: `17`, `17.2`, `16beta1`, `9.6.24`.
pub fn parse_major(version: &str) -> Option<u32> {
    let digits: String = version.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// The major of a `server_version_num` (`170002` is 17, `90624` is 9).
pub fn of_version_num(num: i64) -> u32 {
    (num / 10_000) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_give_their_major() {
        assert_eq!(parse_major("17"), Some(17));
        assert_eq!(parse_major("16beta1"), Some(16));
        assert_eq!(parse_major("9.6"), Some(9));
        assert_eq!(parse_major("x"), None);
        assert_eq!(of_version_num(170002), 17);
        assert_eq!(of_version_num(130016), 13);
    }

    #[test]
    fn a_prepared_major_counts_once_it_is_ready() {
        let dir = tempfile::tempdir().unwrap();
        let majors = Majors::new(dir.path());
        let bin = dir.path().join("31/root/usr/lib/postgresql/31/bin");
        std::fs::create_dir_all(&bin).unwrap();
        std::fs::write(bin.join("postgres"), "").unwrap();
        assert_eq!(majors.find(31), None, "not ready yet");
        let missing = majors.bin_dir(31).unwrap_err().to_string();
        assert!(missing.contains("ops/pg-major.sh 31"), "{missing}");
        std::fs::write(dir.path().join("31/ready"), "").unwrap();
        assert_eq!(majors.find(31), Some(bin));
        assert_eq!(majors.newest(), Some(31));
    }
}
