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
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct State {
    pub snapshots: Vec<SnapshotRecord>,
    pub clones: BTreeMap<String, CloneRecord>,
}

impl State {
    pub fn load(path: &Path) -> Result<State, String> {
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                format!(
                    "the engine state {} is not valid ({e}); move it aside to start afresh \
                     (clones it listed will then be removed as orphans)",
                    path.display()
                )
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(State::default()),
            Err(e) => Err(format!(
                "cannot read the engine state {}: {e}",
                path.display()
            )),
        }
    }

    /// Writes the state to a temporary file and renames it over the old one. No fsync:
    /// a crashed engine's writes survive in the page cache, and after a power loss no
    /// clone server survives either; recovery removes whatever the state no longer lists.
    pub fn save(&self, path: &Path) -> Result<(), String> {
        let dir = path.parent().unwrap_or(Path::new("."));
        let write = || -> std::io::Result<()> {
            let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
            serde_json::to_writer_pretty(&mut tmp, self)?;
            tmp.persist(path)?;
            Ok(())
        };
        write().map_err(|e| format!("cannot write the engine state {}: {e}", path.display()))
    }

    /// The newest snapshot.
    pub fn latest_snapshot(&self) -> Option<&SnapshotRecord> {
        self.snapshots.iter().max_by_key(|s| s.created_at)
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

    pub fn ports_in_use(&self) -> Vec<u16> {
        self.clones.values().filter_map(|c| c.port).collect()
    }
}
