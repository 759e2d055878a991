//! The engine service's configuration file (YAML), with defaults for every key. Unknown
//! keys are an error. The verification token comes from the environment
//! (`PREFLIGHT_ENGINE_TOKEN`) or a file, never from the configuration itself.

use super::storage::BackendChoice;
use crate::config::file::SourceSection;
use serde::Deserialize;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EngineConfig {
    /// Address the API listens on.
    pub listen: String,
    /// A file holding the verification token (else `PREFLIGHT_ENGINE_TOKEN`).
    pub token_file: Option<PathBuf>,
    /// The pool directory: snapshots, clones and the engine's state.
    pub pool_dir: PathBuf,
    /// `auto` (btrfs when the pool is on btrfs, else copy), `btrfs` or `copy`.
    pub backend: BackendChoice,
    /// Pins every snapshot and clone to these binaries (none: each gets the major of its
    /// data, from the host's packages or `majors_dir`).
    pub pg_bin_dir: Option<PathBuf>,
    /// The major for sources without a server of their own (`demo`, `sql_file`,
    /// `filler`); none: the newest this host has. A `url`, `physical` or `data_dir`
    /// source always gets its own major.
    pub postgres_major: Option<u32>,
    /// Where `ops/pg-major.sh` prepares the majors the host's packages lack.
    pub majors_dir: PathBuf,
    /// Where snapshot data comes from.
    pub source: SourceSection,
    /// The database a logical source is loaded into, and the preprocessing hook runs on.
    pub db_name: String,
    /// SQL files run (in name order) on new data before it becomes a snapshot.
    pub preprocess_dir: Option<PathBuf>,
    /// Build a new snapshot this often (none: only on request).
    #[serde(with = "humantime_serde")]
    pub refresh_every: Option<Duration>,
    /// Snapshots to keep; older ones go once no clone uses them.
    pub keep_snapshots: usize,
    /// The private address clones listen on, and the host the API reports.
    pub clone_address: String,
    /// Clone ports, inclusive.
    pub port_range: (u16, u16),
    /// A confined clone server (the engine runs as root) runs as user and group id
    /// `clone_uid_base + port`: ids no account on the host should use.
    pub clone_uid_base: u32,
    /// The preflight binary that relays confined clones' ports (default: this one).
    pub relay_program: Option<PathBuf>,
    pub max_clones: usize,
    /// Refuse new clones when the pool has less free space than this many bytes.
    pub free_space_floor_bytes: u64,
    /// Destroy clones without sessions for this long.
    #[serde(with = "humantime_serde")]
    pub max_idle: Duration,
    /// Destroy clones this old, whatever they do.
    #[serde(with = "humantime_serde")]
    pub max_lifetime: Duration,
    /// How often idle and lifetime limits are checked.
    #[serde(with = "humantime_serde")]
    pub expiry_check_every: Duration,
    /// How long a clone may take to start before it is FATAL.
    #[serde(with = "humantime_serde")]
    pub clone_start_timeout: Duration,
    /// Temporary files one session of a clone may hold (`temp_file_limit`, in kB; only a
    /// superuser may change it): a sort or hash spilling without end cannot fill the pool.
    pub clone_temp_file_limit_kb: u64,
    /// Protection asked for without a duration lasts this many minutes (DLE's
    /// `protectionLeaseDurationMinutes`); 0 means until it is removed.
    pub protection_lease_minutes: u64,
    /// No protection lasts longer than this many minutes (0: no cap).
    pub protection_max_minutes: u64,
    /// On start, adopt healthy clones of an earlier run (the service) or remove them all
    /// (an engine inside a short-lived process).
    pub adopt_clones: bool,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            listen: "127.0.0.1:2345".into(),
            token_file: None,
            pool_dir: PathBuf::from("/var/lib/preflight-engine"),
            backend: BackendChoice::Auto,
            pg_bin_dir: None,
            postgres_major: None,
            majors_dir: PathBuf::from(crate::pg::majors::PREPARED),
            source: SourceSection::default(),
            db_name: "app".into(),
            preprocess_dir: None,
            refresh_every: None,
            keep_snapshots: 2,
            clone_address: "127.0.0.1".into(),
            port_range: (6000, 6099),
            clone_uid_base: 1_500_000,
            relay_program: None,
            clone_temp_file_limit_kb: 10 * 1024 * 1024,
            max_clones: 32,
            free_space_floor_bytes: 1 << 30,
            max_idle: Duration::from_secs(2 * 3600),
            max_lifetime: Duration::from_secs(24 * 3600),
            expiry_check_every: Duration::from_secs(30),
            clone_start_timeout: Duration::from_secs(60),
            protection_lease_minutes: 1440,
            protection_max_minutes: 0,
            adopt_clones: true,
        }
    }
}

/// The engine's configuration could not be read, or says something it cannot do.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read the engine configuration {}", path.display())]
    Read {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the engine configuration {} is not valid", path.display())]
    Invalid {
        path: std::path::PathBuf,
        #[source]
        source: serde_yaml::Error,
    },
    /// One setting is wrong; the text names it and what to give instead.
    #[error("{0}")]
    Setting(String),
}

impl EngineConfig {
    pub fn from_file(path: &std::path::Path) -> Result<EngineConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let config: EngineConfig =
            serde_yaml::from_str(&text).map_err(|source| ConfigError::Invalid {
                path: path.to_path_buf(),
                source,
            })?;
        config.check()?;
        Ok(config)
    }

    pub fn check(&self) -> Result<(), ConfigError> {
        let (lo, hi) = self.port_range;
        if lo == 0 || lo > hi {
            return Err(ConfigError::Setting(format!(
                "port_range [{lo}, {hi}] is empty; give the first and last port, e.g. [6000, 6099]"
            )));
        }
        if self.clone_uid_base < 65_536 || self.clone_uid_base.checked_add(65_535).is_none() {
            return Err(ConfigError::Setting(format!(
                "clone_uid_base {} would give clone servers ids of ordinary accounts or past \
                 the largest id; use a base of 65536 or more, e.g. 1500000",
                self.clone_uid_base
            )));
        }
        if self.max_clones == 0 {
            return Err(ConfigError::Setting("max_clones must be at least 1".into()));
        }
        if self.keep_snapshots == 0 {
            return Err(ConfigError::Setting(
                "keep_snapshots must be at least 1".into(),
            ));
        }
        self.clone_address
            .parse::<std::net::IpAddr>()
            .map_err(|_| {
                ConfigError::Setting(format!(
                    "clone_address {:?} is not an IP address",
                    self.clone_address
                ))
            })?;
        Ok(())
    }

    /// The ports of the range, in order.
    pub fn ports(&self) -> std::ops::RangeInclusive<u16> {
        self.port_range.0..=self.port_range.1
    }
}
