//! What DLE's engine answers with (`engine/pkg/models`, the OpenAPI `components`),
//! served by `engine::api` and read by `clone::dle` and `bench`. Every struct reads
//! leniently, as Go's decoder does: a missing field is its zero value, an unknown one is
//! ignored. Times go through [`super::time`].

use super::time::{self, Time};
use serde::{Deserialize, Deserializer, Serialize};

/// DLE's error body; clients need `code` and `message`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct ApiError {
    pub code: String,
    pub message: String,
    pub detail: String,
    pub hint: String,
}

pub const BAD_REQUEST: &str = "BAD_REQUEST";
pub const UNAUTHORIZED: &str = "UNAUTHORIZED";
pub const NOT_FOUND: &str = "NOT_FOUND";
pub const INTERNAL_ERROR: &str = "INTERNAL_ERROR";
/// DLE's router has no code for these; ours says what happened.
pub const METHOD_NOT_ALLOWED: &str = "METHOD_NOT_ALLOWED";
pub const SERVICE_UNAVAILABLE: &str = "SERVICE_UNAVAILABLE";

/// What DLE's 404 says for any unknown route or object.
pub const NOT_FOUND_MESSAGE: &str = "Requested object does not exist. Specify your request.";

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Status {
    pub code: String,
    pub message: String,
}

/// `{"status": "OK", "message": ...}` (full refresh, deletions).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct ResponseStatus {
    pub status: String,
    pub message: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, rename_all = "camelCase")]
pub struct Snapshot {
    pub id: String,
    #[serde(with = "time")]
    pub created_at: Time,
    #[serde(with = "time")]
    pub data_state_at: Time,
    pub physical_size: u64,
    pub logical_size: u64,
    pub pool: String,
    pub num_clones: u64,
    pub clones: Vec<String>,
    pub branch: String,
    pub message: String,
    #[serde(flatten)]
    pub retention: RetentionView,
    /// The databases the snapshot holds (preflight's addition).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub databases: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, rename_all = "camelCase")]
pub struct Database {
    pub conn_str: String,
    pub host: String,
    /// A string in DLE's answers; read from a number too.
    #[serde(deserialize_with = "port_text")]
    pub port: String,
    pub username: String,
    /// Never echoed: always `""`.
    pub password: String,
    pub db_name: String,
}

fn port_text<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(match serde_json::Value::deserialize(d)? {
        serde_json::Value::String(s) => s,
        serde_json::Value::Number(n) => n.to_string(),
        _ => String::new(),
    })
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, rename_all = "camelCase")]
pub struct CloneMetadata {
    pub clone_diff_size: u64,
    pub logical_size: u64,
    pub cloning_time: f64,
    pub max_idle_minutes: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub protection_lease_duration_minutes: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub protection_max_duration_minutes: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, rename_all = "camelCase")]
pub struct Clone {
    pub id: String,
    pub snapshot: Option<Snapshot>,
    pub branch: String,
    pub revision: i64,
    pub protected: bool,
    #[serde(with = "time", skip_serializing_if = "Option::is_none")]
    pub protected_till: Time,
    #[serde(with = "time")]
    pub delete_at: Time,
    #[serde(with = "time")]
    pub created_at: Time,
    pub status: Status,
    pub db: Database,
    pub metadata: CloneMetadata,
}

/// Deletion protection or a scheduled deletion, as snapshots and branches show it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, rename_all = "camelCase")]
pub struct RetentionView {
    pub protected: bool,
    #[serde(with = "time", skip_serializing_if = "Option::is_none")]
    pub protected_till: Time,
    #[serde(with = "time", skip_serializing_if = "Option::is_none")]
    pub delete_at: Time,
}

/// `GET /healthz` and `status.engine`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, rename_all = "camelCase")]
pub struct Engine {
    pub version: String,
    pub edition: String,
    #[serde(rename = "instanceID")]
    pub instance_id: String,
    #[serde(with = "time", skip_serializing_if = "Option::is_none")]
    pub started_at: Time,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub telemetry: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disable_config_modification: Option<bool>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, rename_all = "camelCase")]
pub struct FileSystem {
    pub mode: String,
    pub size: u64,
    pub free: u64,
    pub used: u64,
    pub data_size: u64,
    pub used_by_snapshots: u64,
    pub used_by_clones: u64,
    pub compress_ratio: f64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, rename_all = "camelCase")]
pub struct PoolEntry {
    pub name: String,
    pub mode: String,
    #[serde(with = "time")]
    pub data_state_at: Time,
    pub status: String,
    pub clone_list: Vec<String>,
    pub file_system: FileSystem,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, rename_all = "camelCase")]
pub struct Cloning {
    pub expected_cloning_time: f64,
    pub num_clones: u64,
    pub clones: Vec<Clone>,
    pub protection_lease_duration_minutes: u64,
    pub protection_max_duration_minutes: u64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, rename_all = "camelCase")]
pub struct Retrieving {
    pub mode: String,
    pub status: String,
    #[serde(with = "time")]
    pub last_refresh: Time,
    #[serde(with = "time")]
    pub next_refresh: Time,
    pub alerts: serde_json::Map<String, serde_json::Value>,
    pub activity: Option<serde_json::Value>,
}

/// How clones are provisioned; DLE names a Docker image, the built-in engine its
/// PostgreSQL binaries.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, rename_all = "camelCase")]
pub struct Provisioner {
    pub docker_image: String,
    pub container_config: std::collections::BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, rename_all = "camelCase")]
pub struct Synchronization {
    pub status: Status,
    pub last_replayed_lsn: String,
    pub last_replayed_lsn_at: String,
    pub replication_lag: i64,
    pub replication_uptime: i64,
}

/// `GET /status`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Instance {
    pub status: Status,
    pub engine: Engine,
    pub pools: Vec<PoolEntry>,
    pub cloning: Cloning,
    pub retrieving: Retrieving,
    pub provisioner: Provisioner,
    pub synchronization: Synchronization,
}

/// `GET /branches`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, rename_all = "camelCase")]
pub struct BranchView {
    pub name: String,
    pub base_dataset: String,
    pub parent: String,
    pub data_state_at: String,
    #[serde(rename = "snapshotID")]
    pub snapshot_id: String,
    pub dataset: String,
    pub num_snapshots: u64,
    #[serde(flatten)]
    pub retention: RetentionView,
}

/// `PATCH /branch/{name}` answers the name and the protection fields only.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, rename_all = "camelCase")]
pub struct UpdateBranchResponse {
    pub name: String,
    #[serde(flatten)]
    pub retention: RetentionView,
}

/// `POST /branch` answers the name.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Branch {
    pub name: String,
}

/// `POST /branch/snapshot` answers the new snapshot's id.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct SnapshotResponse {
    #[serde(rename = "snapshotID")]
    pub snapshot_id: String,
}

/// One entry of `GET /branch/{name}/log` and `GET /branch/snapshot/{id}`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, rename_all = "camelCase")]
pub struct SnapshotDetails {
    pub id: String,
    pub parent: String,
    pub child: Vec<String>,
    pub branch: Vec<String>,
    pub root: Vec<String>,
    pub data_state_at: String,
    pub message: String,
    pub dataset: String,
    pub clones: Vec<String>,
    pub protected: bool,
}

/// An observation session (`observer.Session`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct ObservationSession {
    pub session_id: u64,
    #[serde(with = "time")]
    pub started_at: Time,
    #[serde(with = "time")]
    pub finished_at: Time,
    pub config: super::ObservationConfig,
    pub tags: std::collections::BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub artifacts: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<ObservationResult>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct ObservationResult {
    /// `passed` or `failed`.
    pub status: String,
    pub intervals: Vec<ObservationInterval>,
    pub summary: ObservationSummary,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct ObservationInterval {
    #[serde(with = "time")]
    pub started_at: Time,
    /// Seconds.
    pub duration: f64,
    /// The dangerous locks seen, empty when none.
    pub warning: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct ObservationSummary {
    pub total_duration: f64,
    pub total_intervals: u64,
    pub warning_intervals: u64,
    pub checklist: ObservationChecklist,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct ObservationChecklist {
    pub overall_success: bool,
    pub session_duration_acceptable: bool,
    pub no_long_dangerous_locks: bool,
}

/// `GET /observation/summary/{clone}/{session}` (`observer.SummaryArtifact`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct SummaryArtifact {
    pub session_id: u64,
    pub clone_id: String,
    pub duration: SummaryDuration,
    pub db_size: SummaryDbSize,
    pub locks: SummaryLocks,
    pub log_errors: SummaryLogErrors,
    pub artifact_types: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct SummaryDuration {
    pub total: String,
    #[serde(with = "time")]
    pub started_at: Time,
    #[serde(with = "time")]
    pub finished_at: Time,
    pub query_duration_longest: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct SummaryDbSize {
    pub total: String,
    pub diff: String,
    pub objects_stat: ObjectsStat,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct ObjectsStat {
    pub count: i64,
    pub row_estimate_sum: i64,
    pub total_size_bytes_sum: i64,
    pub table_size_bytes_sum: i64,
    pub indexes_size_bytes_sum: i64,
    pub toast_size_bytes_sum: i64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct SummaryLocks {
    pub total_interval: u64,
    pub warning_interval: u64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct SummaryLogErrors {
    pub count: i64,
    pub message: String,
}
