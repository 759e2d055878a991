//! Request bodies, as DLE's Go client (`dblabapi/types`) encodes them: every field is
//! always sent, zero values included (`"id":""`, `"snapshot":null`, `"extra_conf":null`,
//! `"snapshotID":""`), in the Go structs' order. The engine reads a zero value as "not
//! given" ([`blank`]); our client sends the same bytes DLE's would.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `""` (or only spaces) means absent, as DLE reads its Go zero values.
pub fn blank(s: &str) -> Option<&str> {
    let t = s.trim();
    (!t.is_empty()).then_some(t)
}

/// `POST /clone`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct CreateCloneRequest {
    #[serde(default)]
    pub id: String,
    #[serde(flatten)]
    pub protection: Protection,
    /// Required; `null` and absent are both refused.
    #[serde(default)]
    pub db: Option<DatabaseRequest>,
    #[serde(default)]
    pub snapshot: Option<SnapshotCloneField>,
    #[serde(default)]
    pub extra_conf: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub branch: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct DatabaseRequest {
    pub username: String,
    pub password: String,
    #[serde(default)]
    pub restricted: bool,
    #[serde(default)]
    pub db_name: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct SnapshotCloneField {
    #[serde(default)]
    pub id: String,
}

/// `POST /clone/{id}/reset`: `snapshotID` or `latest`, or neither (the clone's own).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ResetCloneRequest {
    #[serde(rename = "snapshotID", default)]
    pub snapshot_id: String,
    #[serde(default)]
    pub latest: bool,
}

/// Protection, in a create and as the whole of `PATCH /clone/{id}`
/// (`types.CloneUpdateRequest`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Protection {
    #[serde(default)]
    pub protected: bool,
    /// 0: until removed; absent: the engine's lease.
    #[serde(
        rename = "protectionDurationMinutes",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub protection_duration_minutes: Option<u64>,
}

/// `PATCH /snapshot/{id}` and `PATCH /branch/{name}` (`types.SnapshotUpdateRequest`,
/// `types.BranchUpdateRequest`): protection, or a scheduled deletion, not both.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct RetentionUpdate {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protected: Option<bool>,
    #[serde(
        rename = "protectionDurationMinutes",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub protection_duration_minutes: Option<u64>,
    #[serde(
        rename = "deleteAt",
        with = "super::time",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub delete_at: super::time::Time,
}

/// `POST /snapshot`: a new snapshot of the pool's data.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct SnapshotCreateRequest {
    #[serde(rename = "poolName", default)]
    pub pool_name: String,
}

/// `POST /snapshot/clone` and `POST /branch/snapshot`: a snapshot of a clone's state.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct SnapshotCloneCreateRequest {
    #[serde(rename = "cloneID", default)]
    pub clone_id: String,
    #[serde(default)]
    pub message: String,
}

/// `POST /branch`: from `baseBranch`'s head or from `snapshotID` (not both).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct BranchCreateRequest {
    #[serde(rename = "branchName", default)]
    pub branch_name: String,
    #[serde(rename = "baseBranch", default)]
    pub base_branch: String,
    #[serde(rename = "snapshotID", default)]
    pub snapshot_id: String,
}

/// `POST /observation/start`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct StartObservationRequest {
    #[serde(default)]
    pub clone_id: String,
    #[serde(default)]
    pub config: ObservationConfig,
    #[serde(default)]
    pub tags: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub db_name: String,
}

/// Seconds, all of them; 0 means DLE's defaults.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq)]
pub struct ObservationConfig {
    #[serde(default)]
    pub observation_interval: u64,
    #[serde(default)]
    pub max_lock_duration: u64,
    #[serde(default)]
    pub max_duration: u64,
}

/// `POST /observation/stop`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct StopObservationRequest {
    #[serde(default)]
    pub clone_id: String,
    #[serde(default)]
    pub overall_error: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `json.NewEncoder(w).Encode(types.CloneCreateRequest{...})` writes for
    /// DLE's CI checker (`runci/clone.go`), less the encoder's final newline.
    #[test]
    fn encodes_like_dles_go_client() {
        let checker = CreateCloneRequest {
            db: Some(DatabaseRequest {
                username: "ci_alice".into(),
                password: "pw".into(),
                restricted: true,
                db_name: "postgres".into(),
            }),
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_string(&checker).unwrap(),
            r#"{"id":"","protected":false,"db":{"username":"ci_alice","password":"pw","restricted":true,"db_name":"postgres"},"snapshot":null,"extra_conf":null,"branch":""}"#
        );
        assert_eq!(
            serde_json::to_string(&ResetCloneRequest::default()).unwrap(),
            r#"{"snapshotID":"","latest":false}"#
        );
        assert_eq!(
            serde_json::to_string(&StopObservationRequest {
                clone_id: "c".into(),
                overall_error: true
            })
            .unwrap(),
            r#"{"clone_id":"c","overall_error":true}"#
        );
    }

    #[test]
    fn blank_is_absent() {
        assert_eq!(blank(""), None);
        assert_eq!(blank("  "), None);
        assert_eq!(blank(" x "), Some("x"));
    }
}
