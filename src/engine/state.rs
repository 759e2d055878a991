//! The engine's persisted state: its snapshots and clones, written atomically to
//! `state.json` in the pool after every change, so that a restarted engine knows what
//! it owns. Passwords are never stored: a clone keeps the SCRAM verifier of its role's
//! password, which is all a reset needs to re-create the role.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SnapshotRecord {
    pub id: String,
    pub created_at: DateTime<Utc>,
    /// When the data was taken from the source.
    pub data_state_at: DateTime<Utc>,
    /// Which source built it (a digest), so an in-process engine knows when to rebuild.
    pub source_key: String,
    pub databases: Vec<String>,
    pub logical_size: u64,
    pub physical_size: u64,
    /// The role that owns the data: `preflight_owner` in a snapshot of the source, the
    /// clone's requester in a snapshot of a clone.
    #[serde(default = "default_owner")]
    pub owner: String,
    /// The branch it is on (`main` for snapshots of the source).
    #[serde(default = "default_branch")]
    pub branch: String,
    /// The snapshot the clone it was taken from was made of; `None` for the source's.
    #[serde(default)]
    pub parent: Option<String>,
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub retention: Retention,
}

/// Deletion protection, or a scheduled deletion (snapshots and branches).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Retention {
    pub protected: bool,
    /// When a timed protection lapses; `None` with `protected` is until removed.
    pub protected_till: Option<DateTime<Utc>>,
    /// When the engine deletes it (if nothing builds on it then).
    pub delete_at: Option<DateTime<Utc>>,
}

/// Protected at `now`: protected, and its lease (if any) not yet over.
fn protected_at(protected: bool, till: Option<DateTime<Utc>>, now: DateTime<Utc>) -> bool {
    protected && till.map_or(true, |till| till > now)
}

impl Retention {
    pub fn is_protected(&self, now: DateTime<Utc>) -> bool {
        protected_at(self.protected, self.protected_till, now)
    }

    /// As the API shows it: a lapsed protection is none.
    pub fn view(&self) -> crate::dle_api::RetentionView {
        let protected = self.is_protected(Utc::now());
        crate::dle_api::RetentionView {
            protected,
            protected_till: self.protected_till.filter(|_| protected),
            delete_at: self.delete_at,
        }
    }

    pub fn is_due(&self, now: DateTime<Utc>) -> bool {
        !self.is_protected(now) && self.delete_at.is_some_and(|at| at <= now)
    }
}

fn default_owner() -> String {
    crate::pg::role::OWNER_ROLE.into()
}

fn default_branch() -> String {
    super::MAIN_BRANCH.into()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum StatusCode {
    Creating,
    Ok,
    Resetting,
    Deleting,
    Fatal,
}

impl StatusCode {
    pub fn as_str(&self) -> &'static str {
        match self {
            StatusCode::Creating => "CREATING",
            StatusCode::Ok => "OK",
            StatusCode::Resetting => "RESETTING",
            StatusCode::Deleting => "DELETING",
            StatusCode::Fatal => "FATAL",
        }
    }

    /// The message DLE shows with each status.
    pub fn message(&self) -> &'static str {
        match self {
            StatusCode::Creating => "Clone is being created.",
            StatusCode::Ok => "Clone is ready to accept Postgres connections.",
            StatusCode::Resetting => "Clone is being reset.",
            StatusCode::Deleting => "Clone is being deleted.",
            StatusCode::Fatal => "Cloning failure.",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Status {
    pub code: StatusCode,
    pub message: String,
}

impl Status {
    pub fn of(code: StatusCode) -> Status {
        Status {
            code,
            message: code.message().to_string(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DbRecord {
    pub username: String,
    /// SCRAM verifier of the password (never the password).
    pub verifier: String,
    pub restricted: bool,
    pub db_name: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CloneRecord {
    pub id: String,
    pub snapshot_id: String,
    pub protected: bool,
    pub created_at: DateTime<Utc>,
    pub last_active: DateTime<Utc>,
    pub status: Status,
    /// The port it listens on; `None` once its server and storage are gone (FATAL).
    pub port: Option<u16>,
    pub db: DbRecord,
    /// Seconds from the create (or reset) request to ready.
    pub cloning_time: f64,
    /// When a timed protection lapses; `None` with `protected` is until removed.
    #[serde(default)]
    pub protected_till: Option<DateTime<Utc>>,
    /// Per-clone server settings (`extra_conf`), applied at every start.
    #[serde(default)]
    pub extra_conf: Vec<(String, String)>,
    /// The branch it was made on; a snapshot of it lands there.
    #[serde(default = "default_branch")]
    pub branch: String,
}

impl CloneRecord {
    /// Protected now: protected, and its lease (if any) not yet over.
    pub fn is_protected(&self, now: DateTime<Utc>) -> bool {
        protected_at(self.protected, self.protected_till, now)
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct State {
    /// This engine's id (`instanceID`), made once per pool.
    #[serde(default)]
    pub instance_id: String,
    pub snapshots: Vec<SnapshotRecord>,
    pub clones: BTreeMap<String, CloneRecord>,
    /// Branches other than `main`, each with its head snapshot.
    #[serde(default)]
    pub branches: BTreeMap<String, String>,
    /// Protection or scheduled deletion of branches (`main` included).
    #[serde(default)]
    pub branch_retention: BTreeMap<String, Retention>,
}

/// The engine's state file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error(
        "the engine state {} is not valid; move it aside to start afresh (clones it listed \
         will then be removed as orphans)",
        path.display()
    )]
    Invalid {
        path: std::path::PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("cannot read the engine state {}", path.display())]
    Read {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write the engine state {}", path.display())]
    Write {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl State {
    pub fn load(path: &Path) -> Result<State, StateError> {
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|source| StateError::Invalid {
                path: path.to_path_buf(),
                source,
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(State::default()),
            Err(source) => Err(StateError::Read {
                path: path.to_path_buf(),
                source,
            }),
        }
    }

    /// Writes the state to a temporary file and renames it over the old one. No fsync:
    /// a crashed engine's writes survive in the page cache, and after a power loss no
    /// clone server survives either; recovery removes whatever the state no longer lists.
    pub fn save(&self, path: &Path) -> Result<(), StateError> {
        let dir = path.parent().unwrap_or(Path::new("."));
        let write = || -> std::io::Result<()> {
            let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
            serde_json::to_writer_pretty(&mut tmp, self)?;
            tmp.persist(path)?;
            Ok(())
        };
        write().map_err(|source| StateError::Write {
            path: path.to_path_buf(),
            source,
        })
    }

    /// The newest snapshot of the source (what a clone gets by default).
    pub fn latest_snapshot(&self) -> Option<&SnapshotRecord> {
        self.snapshots
            .iter()
            .filter(|s| s.parent.is_none())
            .max_by_key(|s| s.created_at)
    }

    /// A branch's head: `main`'s is the newest snapshot taken on it (of the source or
    /// of a clone of main), another's is recorded.
    pub fn branch_head(&self, branch: &str) -> Option<&SnapshotRecord> {
        match self.branches.get(branch) {
            Some(id) => self.snapshot(id),
            None if branch == super::MAIN_BRANCH => self
                .snapshots
                .iter()
                .filter(|s| s.branch == branch)
                .max_by_key(|s| s.created_at),
            None => None,
        }
    }

    pub fn snapshot(&self, id: &str) -> Option<&SnapshotRecord> {
        self.snapshots.iter().find(|s| s.id == id)
    }

    pub fn clones_of(&self, snapshot_id: &str) -> usize {
        self.clones
            .values()
            .filter(|c| c.snapshot_id == snapshot_id)
            .count()
    }

    /// The ids of the clones made of a snapshot.
    pub fn clone_ids_of(&self, snapshot_id: &str) -> Vec<String> {
        self.clones
            .values()
            .filter(|c| c.snapshot_id == snapshot_id)
            .map(|c| c.id.clone())
            .collect()
    }

    /// Whether a snapshot of a clone, or a branch, starts from this snapshot.
    pub fn is_built_on(&self, snapshot_id: &str) -> bool {
        self.snapshots
            .iter()
            .any(|s| s.parent.as_deref() == Some(snapshot_id))
            || self.branches.values().any(|head| head == snapshot_id)
    }

    pub fn ports_in_use(&self) -> Vec<u16> {
        self.clones.values().filter_map(|c| c.port).collect()
    }
}
