//! The JSON the API answers with, in Database Lab Engine's field names: clones,
//! snapshots and the instance status. The password is never echoed (`""`), and a
//! clone's host and port are empty until it is ready, as in DLE.

use crate::engine::state::{CloneRecord, SnapshotRecord, State, StatusCode};
use crate::engine::Engine;
use serde_json::{json, Value};

pub fn clone_view(engine: &Engine, state: &State, c: &CloneRecord) -> Value {
    let ready = matches!(c.status.code, StatusCode::Ok);
    let host = engine.config().clone_address.clone();
    let (host, port) = match c.port {
        Some(p) if ready => (host, p.to_string()),
        _ => (String::new(), String::new()),
    };
    let snapshot = state.snapshot(&c.snapshot_id);
    let conn_str = if ready {
        format!(
            "host={host} port={port} user={} dbname={}",
            c.db.username, c.db.db_name
        )
    } else {
        String::new()
    };
    let cfg = engine.config();
    json!({
        "id": c.id,
        "snapshot": {
            "id": c.snapshot_id,
            "createdAt": snapshot.map(|s| s.created_at),
            "dataStateAt": snapshot.map(|s| s.data_state_at),
        },
        "protected": c.protected,
        "deleteAt": null,
        "createdAt": c.created_at,
        "status": {"code": c.status.code.as_str(), "message": c.status.message},
        "db": {
            "connStr": conn_str,
            "host": host,
            "port": port,
            "username": c.db.username,
            "password": "",
            "dbName": c.db.db_name,
            "restricted": c.db.restricted,
        },
        "metadata": {
            "cloneDiffSize": 0,
            "logicalSize": snapshot.map(|s| s.logical_size).unwrap_or(0),
            "cloningTime": c.cloning_time,
            "maxIdleMinutes": cfg.max_idle.as_secs() / 60,
        }
    })
}

pub fn snapshot_view(engine: &Engine, state: &State, s: &SnapshotRecord) -> Value {
    json!({
        "id": s.id,
        "createdAt": s.created_at,
        "dataStateAt": s.data_state_at,
        "physicalSize": s.physical_size,
        "logicalSize": s.logical_size,
        "pool": engine.config().pool_dir.display().to_string(),
        "numClones": state.clones_of(&s.id),
        "databases": s.databases,
    })
}

pub fn status_view(engine: &Engine, state: &State) -> Value {
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
    let retrieving_status = if refresh.running {
        "refreshing"
    } else if refresh.last_error.is_some() {
        "failed"
    } else {
        "finished"
    };
    let (code, message) = match (&refresh.last_error, latest) {
        (_, None) if refresh.running => ("WARNING", "Building the first snapshot.".to_string()),
        (Some(e), _) => ("WARNING", format!("The last refresh failed: {e}")),
        (None, None) => ("WARNING", "No snapshot yet.".to_string()),
        (None, Some(_)) => ("OK", "Instance is ready".to_string()),
    };
    json!({
        "status": {"code": code, "message": message},
        "engine": {
            "version": env!("CARGO_PKG_VERSION"),
            "edition": "preflight",
            "startedAt": engine.started_at(),
        },
        "pools": [{
            "name": cfg.pool_dir.display().to_string(),
            "mode": engine.backend().name(),
            "dataStateAt": latest.map(|s| s.data_state_at),
            "status": "active",
            "cloneList": state.clones.keys().collect::<Vec<_>>(),
            "fileSystem": {
                "mode": engine.backend().name(),
                "size": size,
                "free": free,
                "used": size.saturating_sub(free),
                "usedByClones": by_clones,
                "dataSize": latest.map(|s| s.physical_size).unwrap_or(0),
            }
        }],
        "cloning": {
            "expectedCloningTime": expected,
            "numClones": state.clones.len(),
            "clones": state.clones.values().map(|c| clone_view(engine, state, c)).collect::<Vec<_>>(),
        },
        "retrieving": {
            "mode": source_mode(&cfg.source),
            "status": retrieving_status,
            "lastRefresh": refresh.last_refresh,
            "nextRefresh": refresh.last_refresh.zip(cfg.refresh_every)
                .and_then(|(t, every)| chrono::Duration::from_std(every).ok().map(|d| t + d)),
        }
    })
}

fn source_mode(source: &crate::config::file::SourceSection) -> &'static str {
    use crate::config::file::SourceSection::*;
    match source {
        Physical { .. } | DataDir { .. } => "physical",
        _ => "logical",
    }
}
