//! The clone a database was rehearsed on, as report.json names it (its password is never
//! written).

use crate::secret::Secret;

/// A clone that is ready to accept connections.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CloneInfo {
    pub id: String,
    pub host: String,
    pub port: u16,
    pub db_name: String,
    pub username: String,
    #[serde(skip)]
    pub password: Secret,
    pub snapshot_id: Option<String>,
    pub data_state_at: Option<String>,
    /// Seconds from the create request to ready.
    pub ready_seconds: f64,
}
