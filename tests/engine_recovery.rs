//! The engine on btrfs (a loop device this test makes) and across a crash: 8 clones
//! created at once are writable subvolume snapshots; after SIGKILL the restarted
//! engine adopts the clones that still answer, removes the one whose server died, and
//! removes the clone directory and half-built snapshot nobody owns. Nothing is orphaned.
//! Where btrfs is unavailable the same test runs on the copy backend and says so.

mod common;

use common::engine::*;
use std::os::unix::fs::MetadataExt;

#[tokio::test(flavor = "multi_thread")]
async fn eight_clones_at_once_survive_an_engine_crash_and_nothing_is_orphaned() {
    let dir = tempfile::tempdir().unwrap();
    let (loop_fs, pool, backend) = btrfs_or_copy(
        dir.path(),
        2 << 30,
        "testing recovery on the copy backend only",
    );
    let extra = format!("backend: {backend}\nport_range: [6400, 6499]\n");
    let mut engine = EngineProc::start(dir.path(), &pool, &extra);
    engine.wait_for_snapshot().await;
    let (_, status) = engine.call("GET", "/status", None).await;
    assert_eq!(status["pools"][0]["mode"], backend);

    // 8 creations at once: all OK, each on its own port.
    let ids: Vec<String> = (0..8).map(|i| format!("c{i}")).collect();
    futures_util::future::join_all(ids.iter().map(|id| engine.create(id))).await;
    let clones = futures_util::future::join_all(ids.iter().map(|id| engine.wait_settled(id))).await;
    let mut ports: Vec<String> = Vec::new();
    for c in &clones {
        assert_eq!(c["status"]["code"], "OK", "{c}");
        ports.push(c["db"]["port"].as_str().unwrap().to_string());
    }
    ports.sort();
    ports.dedup();
    assert_eq!(ports.len(), 8, "each clone has its own port");
    if backend == "btrfs" {
        for id in &ids {
            let ino = std::fs::metadata(pool.join("clones").join(id))
                .unwrap()
                .ino();
            assert_eq!(ino, 256, "clone {id} is a btrfs subvolume");
        }
    }
    let db = connect_clone(&clones[0]).await;
    db.batch_execute("INSERT INTO items VALUES (5000, 'kept across the crash')")
        .await
        .unwrap();
    drop(db);

    // Crash the engine; one clone's server dies too; debris appears.
    engine.crash();
    let dead_pid: i32 = std::fs::read_to_string(pool.join("clones/c7/data/postmaster.pid"))
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(dead_pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    std::fs::create_dir_all(pool.join("clones/stray/data")).unwrap();
    std::fs::create_dir_all(pool.join("snapshots/snapshot_half.building")).unwrap();
    // The crashed engine's handle must not stop the clones the next engine adopts.
    engine.pool = dir.path().join("not-a-pool");

    // Restart on the same pool.
    let engine2 = EngineProc::start_with(engine.config.clone(), &pool);
    let adopted = engine2.wait_settled("c0").await;
    assert_eq!(adopted["status"]["code"], "OK", "{adopted}");
    let db = connect_clone(&adopted).await;
    let name: String = db
        .query_one("SELECT name FROM items WHERE id = 5000", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        name, "kept across the crash",
        "the adopted clone is the same clone"
    );
    drop(db);
    assert_eq!(
        engine2.call("GET", "/clone/c7", None).await.0,
        404,
        "the dead clone is removed"
    );
    assert!(!pool.join("clones/c7").exists());
    assert!(
        !pool.join("clones/stray").exists(),
        "orphaned clone directory removed"
    );
    assert!(!pool.join("snapshots/snapshot_half.building").exists());
    for id in &ids[1..7] {
        assert_eq!(engine2.wait_settled(id).await["status"]["code"], "OK");
    }
    assert!(engine2.log_text().contains("adopted a running clone"));

    // Delete everything: no subvolume, directory or server remains.
    for id in &ids[..7] {
        assert_eq!(
            engine2
                .call("DELETE", &format!("/clone/{id}"), None)
                .await
                .0,
            200
        );
    }
    for id in &ids[..7] {
        engine2.wait_gone(id).await;
    }
    assert!(std::fs::read_dir(pool.join("clones"))
        .unwrap()
        .next()
        .is_none());
    assert_eq!(servers_under(&pool), "");
    if backend == "btrfs" {
        let out = std::process::Command::new("btrfs")
            .args(["subvolume", "list"])
            .arg(&loop_fs.as_ref().unwrap().mount)
            .output()
            .unwrap();
        let list = String::from_utf8_lossy(&out.stdout);
        assert_eq!(list.lines().count(), 1, "only the snapshot is left: {list}");
        assert!(list.contains("pool/snapshots/snapshot_"), "{list}");
    }

    // SIGTERM is a graceful shutdown.
    let mut engine2 = engine2;
    assert_eq!(engine2.terminate(), Some(0), "{}", engine2.log_text());
}
