//! Where snapshots come from, end to end through `preflight engine serve`: a physical
//! copy (`pg_basebackup`) of a running source server, a logical copy (`pg_dump` /
//! `pg_restore`), and an existing data directory; the preprocessing hook masks data
//! before it becomes a snapshot; a refresh makes a new snapshot while a clone of the old
//! one keeps running, and old snapshots go once unused.

mod common;

use common::engine::*;
use preflight::pg::server::{PgServer, StopMode};
use std::path::Path;
use std::time::Duration;

const SOURCE_SQL: &str = "CREATE TABLE customers (id int PRIMARY KEY, email text NOT NULL);
INSERT INTO customers SELECT g, 'person' || g || '@real.example' FROM generate_series(1, 500) AS g;";

/// A running PostgreSQL server with an `app` database owned by a role `app_owner`, as
/// production would have it.
async fn source_server(dir: &Path) -> (PgServer, u16) {
    let (server, port) = started_server("/usr/lib/postgresql/15/bin".into(), dir).await;
    let admin = server.connect(port, "postgres").await.unwrap();
    for sql in [
        "CREATE ROLE app_owner",
        "CREATE DATABASE app OWNER app_owner",
    ] {
        admin.batch_execute(sql).await.unwrap();
    }
    let app = server.connect(port, "app").await.unwrap();
    app.batch_execute(&format!("SET ROLE app_owner; {SOURCE_SQL}"))
        .await
        .unwrap();
    (server, port)
}

async fn clone_and_read(engine: &EngineProc, id: &str) -> (i64, String, String) {
    engine.wait_for_snapshot().await;
    engine.create(id).await;
    let clone = engine.wait_settled(id).await;
    assert_eq!(
        clone["status"]["code"],
        "OK",
        "{clone}\n{}",
        engine.log_text()
    );
    let db = connect_clone(&clone).await;
    let row = db
        .query_one(
            "SELECT count(*), (SELECT email FROM customers WHERE id = 1), (SELECT tableowner FROM pg_tables WHERE tablename = 'customers')::text FROM customers",
            &[],
        )
        .await
        .unwrap();
    (row.get(0), row.get(1), row.get(2))
}

#[tokio::test(flavor = "multi_thread")]
async fn snapshots_come_from_a_physical_copy_a_logical_copy_or_a_data_directory() {
    let dir = tempfile::tempdir().unwrap();
    let (source, port) = source_server(&dir.path().join("source")).await;
    let sock = dir.path().join("source/sock");

    let physical = format!(
        "backend: copy\nport_range: [6600, 6619]\nsource: {{kind: physical, connstr: \"host={} port={port} user=postgres\"}}\n",
        sock.display()
    );
    let logical = format!(
        "backend: copy\nport_range: [6620, 6639]\nsource: {{kind: url, url: \"postgresql:///app?host={}&port={port}&user=postgres\"}}\n",
        sock.display()
    );
    for (name, extra) in [("physical", physical), ("logical", logical)] {
        let sub = dir.path().join(name);
        std::fs::create_dir_all(&sub).unwrap();
        let pool = sub.join("pool");
        let config = engine_config(&sub, &pool, "");
        // The source line of engine_config is replaced by this test's source.
        let text = std::fs::read_to_string(&config).unwrap();
        let text: String = text
            .lines()
            .filter(|l| !l.starts_with("source:"))
            .map(|l| format!("{l}\n"))
            .collect();
        std::fs::write(&config, text + &extra).unwrap();
        let engine = EngineProc::start_with(config, &pool);
        let (rows, email, owner) = clone_and_read(&engine, "c1").await;
        assert_eq!(rows, 500, "{name}");
        assert_eq!(email, "person1@real.example", "{name}");
        assert_eq!(owner, "dev", "{name}: the requester owns the data");
    }

    // An existing data directory: the source stopped, then copied.
    source.stop(StopMode::Fast).await.unwrap();
    let sub = dir.path().join("data_dir");
    std::fs::create_dir_all(&sub).unwrap();
    let pool = sub.join("pool");
    let config = engine_config(&sub, &pool, "backend: copy\nport_range: [6640, 6659]\n");
    let text = std::fs::read_to_string(&config).unwrap().replace(
        &format!(
            "source: {{kind: sql_file, path: {}}}",
            sub.join("engine-seed.sql").display()
        ),
        &format!(
            "source: {{kind: data_dir, path: {}}}",
            dir.path().join("source/data").display()
        ),
    );
    std::fs::write(&config, text).unwrap();
    let engine = EngineProc::start_with(config, &pool);
    let (rows, _, owner) = clone_and_read(&engine, "c1").await;
    assert_eq!((rows, owner.as_str()), (500, "dev"));
}

#[tokio::test(flavor = "multi_thread")]
async fn refresh_masks_data_keeps_old_clones_running_and_prunes_unused_snapshots() {
    let dir = tempfile::tempdir().unwrap();
    let hook = dir.path().join("preprocess.d");
    std::fs::create_dir_all(&hook).unwrap();
    std::fs::write(
        hook.join("10-mask.sql"),
        "UPDATE items SET name = 'masked ' || id;",
    )
    .unwrap();
    let pool = dir.path().join("pool");
    let engine = EngineProc::start(
        dir.path(),
        &pool,
        &format!(
            "backend: copy\nport_range: [6660, 6679]\nkeep_snapshots: 1\npreprocess_dir: {}\n",
            hook.display()
        ),
    );
    let first = engine.wait_for_snapshot().await;
    engine.create("old").await;
    let old = engine.wait_settled("old").await;
    let db = connect_clone(&old).await;
    let name: String = db
        .query_one("SELECT name FROM items WHERE id = 1", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        name, "masked 1",
        "the hook ran before the snapshot was taken"
    );

    let (status, rsp) = engine.call("POST", "/admin/full-refresh", None).await;
    assert_eq!(status, 200, "{rsp}");
    let started = std::time::Instant::now();
    let second = loop {
        let (_, list) = engine.call("GET", "/snapshots", None).await;
        let list = list.as_array().unwrap().clone();
        if list.len() == 2 {
            break list[0].clone();
        }
        assert!(started.elapsed() < Duration::from_secs(120), "{list:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_ne!(second["id"], first["id"]);
    // The old snapshot stays while its clone runs, and the clone keeps working.
    let n: i64 = db
        .query_one("SELECT count(*) FROM items", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 1000);
    drop(db);
    engine.create("new").await;
    assert_eq!(
        engine.wait_settled("new").await["snapshot"]["id"],
        second["id"]
    );

    // Deleting the old snapshot's last clone lets it go (keep_snapshots: 1).
    engine.call("DELETE", "/clone/old", None).await;
    engine.wait_gone("old").await;
    let started = std::time::Instant::now();
    loop {
        let (_, list) = engine.call("GET", "/snapshots", None).await;
        if list.as_array().unwrap().len() == 1 {
            assert_eq!(list[0]["id"], second["id"]);
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "{list}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let old_dir = pool.join("snapshots").join(first["id"].as_str().unwrap());
    while old_dir.exists() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "old snapshot not removed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
