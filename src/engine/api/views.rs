//! What the API answers with: the engine's records turned into [`crate::dle_api`]'s
//! models, filled with what is true for the built-in engine. The password is never
//! echoed (`""`), and a clone's host and port are empty until it is ready, as in DLE.

use crate::dle_api;
use crate::engine::state::{CloneRecord, SnapshotRecord, State, StatusCode};
use crate::engine::Engine;
use chrono::Utc;

/// A libpq connection-string value: quoted when it holds a space, a quote or a
/// backslash, or is empty, so that any role name reads back as itself.
fn conninfo_value(v: &str) -> String {
    if !v.is_empty()
        && !v
            .chars()
            .any(|c| c.is_whitespace() || c == '\'' || c == '\\')
    {
        return v.to_string();
    }
    format!("'{}'", v.replace('\\', "\\\\").replace('\'', "\\'"))
}

pub fn clone_view(engine: &Engine, state: &State, c: &CloneRecord) -> dle_api::Clone {
    let ready = matches!(c.status.code, StatusCode::Ok);
    let cfg = engine.config();
    let (host, port) = match c.port {
        Some(p) if ready => (cfg.clone_address.clone(), p.to_string()),
        _ => (String::new(), String::new()),
    };
    let conn_str = if ready {
        format!(
            "host={host} port={port} user={} dbname={}",
            conninfo_value(&c.db.username),
            conninfo_value(&c.db.db_name)
        )
    } else {
        String::new()
    };
    let snapshot = state.snapshot(&c.snapshot_id);
    let protected = c.is_protected(Utc::now());
    dle_api::Clone {
        id: c.id.clone(),
        snapshot: Some(match snapshot {
            Some(s) => snapshot_view(engine, state, s),
            None => dle_api::Snapshot {
                id: c.snapshot_id.clone(),
                ..Default::default()
            },
        }),
        branch: c.branch.clone(),
        revision: 0,
        protected,
        protected_till: c.protected_till.filter(|_| protected),
        delete_at: None,
        created_at: Some(c.created_at),
        status: dle_api::Status {
            code: c.status.code.as_str().into(),
            message: c.status.message.clone(),
        },
        db: dle_api::Database {
            conn_str,
            host,
            port,
            username: c.db.username.clone(),
            password: String::new(),
            db_name: c.db.db_name.clone(),
        },
        metadata: dle_api::CloneMetadata {
            clone_diff_size: 0,
            logical_size: snapshot.map(|s| s.logical_size).unwrap_or(0),
            cloning_time: c.cloning_time,
            max_idle_minutes: cfg.max_idle.as_secs() / 60,
            protection_lease_duration_minutes: cfg.protection_lease_minutes,
            protection_max_duration_minutes: cfg.protection_max_minutes,
        },
    }
}

pub fn snapshot_view(engine: &Engine, state: &State, s: &SnapshotRecord) -> dle_api::Snapshot {
    dle_api::Snapshot {
        id: s.id.clone(),
        created_at: Some(s.created_at),
        data_state_at: Some(s.data_state_at),
        physical_size: s.physical_size,
        logical_size: s.logical_size,
        pool: engine.config().pool_dir.display().to_string(),
        num_clones: state.clones_of(&s.id) as u64,
        clones: state.clone_ids_of(&s.id),
        branch: s.branch.clone(),
        message: s.message.clone(),
        retention: s.retention.view(),
        databases: s.databases.clone(),
    }
}

/// `/healthz` and the `engine` part of `/status`.
pub fn engine_view(engine: &Engine, state: &State) -> dle_api::Engine {
    dle_api::Engine {
        version: env!("CARGO_PKG_VERSION").into(),
        edition: "preflight".into(),
        instance_id: state.instance_id.clone(),
        started_at: Some(engine.started_at()),
        telemetry: Some(false),
        disable_config_modification: Some(true),
    }
}

pub fn status_view(engine: &Engine, state: &State) -> dle_api::Instance {
    let cfg = engine.config();
    let (size, free) = crate::engine::storage::capacity(&cfg.pool_dir);
    let by_clones: u64 = match engine.backend() {
        // A full copy costs its snapshot's size; btrfs clones share blocks until written.
        crate::engine::storage::Backend::Copy => state
            .clones
            .values()
            .filter_map(|c| state.snapshot(&c.snapshot_id))
            .map(|s| s.physical_size)
            .sum(),
        crate::engine::storage::Backend::Btrfs => 0,
    };
    let ready: Vec<f64> = state
        .clones
        .values()
        .filter(|c| c.status.code == StatusCode::Ok)
        .map(|c| c.cloning_time)
        .collect();
    let expected = if ready.is_empty() {
        0.0
    } else {
        ready.iter().sum::<f64>() / ready.len() as f64
    };
    let refresh = engine.refresh_status();
    let latest = state.latest_snapshot();
    let (code, message) = match (&refresh.last_error, latest) {
        (_, None) if refresh.running => ("WARNING", "Building the first snapshot.".to_string()),
        (Some(e), _) => ("WARNING", format!("The last refresh failed: {e}")),
        (None, None) => ("WARNING", "No snapshot yet.".to_string()),
        (None, Some(_)) => ("OK", "Instance is ready".to_string()),
    };
    let mode = engine.backend().name().to_string();
    let snapshots_bytes: u64 = state.snapshots.iter().map(|s| s.physical_size).sum();
    dle_api::Instance {
        status: dle_api::Status {
            code: code.into(),
            message,
        },
        engine: engine_view(engine, state),
        pools: vec![dle_api::PoolEntry {
            name: cfg.pool_dir.display().to_string(),
            mode: mode.clone(),
            data_state_at: latest.map(|s| s.data_state_at),
            status: if latest.is_some() { "active" } else { "empty" }.into(),
            clone_list: state.clones.keys().cloned().collect(),
            file_system: dle_api::FileSystem {
                mode,
                size,
                free,
                used: size.saturating_sub(free),
                data_size: latest.map(|s| s.physical_size).unwrap_or(0),
                used_by_snapshots: snapshots_bytes,
                used_by_clones: by_clones,
                compress_ratio: 1.0,
            },
        }],
        cloning: dle_api::Cloning {
            expected_cloning_time: expected,
            num_clones: state.clones.len() as u64,
            clones: state
                .clones
                .values()
                .map(|c| clone_view(engine, state, c))
                .collect(),
            protection_lease_duration_minutes: cfg.protection_lease_minutes,
            protection_max_duration_minutes: cfg.protection_max_minutes,
        },
        retrieving: retrieving_view(engine),
        // Clones are PostgreSQL servers of the engine's own binaries, no container.
        provisioner: dle_api::Provisioner {
            docker_image: String::new(),
            container_config: [
                (
                    "pgBinDir".to_string(),
                    engine
                        .default_bin_dir()
                        .map_or_else(|e| format!("({e})"), |dir| dir.display().to_string()),
                ),
                ("backend".to_string(), engine.backend().name().to_string()),
            ]
            .into_iter()
            .collect(),
        },
        // Snapshots are taken whole from the source; nothing replays continuously.
        synchronization: dle_api::Synchronization {
            status: dle_api::Status {
                code: "Not available".into(),
                message: "snapshots are built whole from the source; no replica is kept".into(),
            },
            ..Default::default()
        },
    }
}

/// How snapshots are refreshed (`retrieving` in `/status`, and `/instance/retrieval`).
pub fn retrieving_view(engine: &Engine) -> dle_api::Retrieving {
    let cfg = engine.config();
    let refresh = engine.refresh_status();
    let status = if refresh.running {
        "refreshing"
    } else if refresh.last_error.is_some() {
        "failed"
    } else {
        "finished"
    };
    dle_api::Retrieving {
        mode: source_mode(&cfg.source).into(),
        status: status.into(),
        last_refresh: refresh.last_refresh,
        next_refresh: refresh
            .last_refresh
            .zip(cfg.refresh_every)
            .and_then(|(t, every)| chrono::Duration::from_std(every).ok().map(|d| t + d)),
        alerts: Default::default(),
        activity: Some(serde_json::json!({"source": [], "target": []})),
    }
}

fn source_mode(source: &crate::config::file::SourceSection) -> &'static str {
    use crate::config::file::SourceSection::*;
    match source {
        Physical { .. } | DataDir { .. } => "physical",
        _ => "logical",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_values_read_back_as_themselves() {
        assert_eq!(conninfo_value("ci_alice-smith"), "ci_alice-smith");
        assert_eq!(conninfo_value("a b"), "'a b'");
        assert_eq!(conninfo_value("o'k\\"), "'o\\'k\\\\'");
        assert_eq!(conninfo_value(""), "''");
    }
}
