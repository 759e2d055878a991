//! One MR cannot fill the pool under the others: a migration that writes without end is
//! stopped when its clone's database has grown past `box.disk_limit_bytes`, reported as
//! `disk_limit` (not as an infrastructure error), and a second clone on the same engine,
//! made for another MR, keeps answering throughout.

mod common;

use common::engine::*;
use common::gitlab_double::GitlabDouble;
use common::*;
use std::time::{Duration, Instant};

/// Writes about 2 GB if nothing stops it.
const FILL: &str = "CREATE TABLE fill (id int, pad text);
INSERT INTO fill SELECT g, repeat(md5(g::text), 30) FROM generate_series(1, 2000000) g;";

#[tokio::test(flavor = "multi_thread")]
async fn a_migration_filling_the_disk_is_stopped_and_the_clone_beside_it_lives() {
    let (root, engine) = EngineProc::ready_on_copy((6900, 6919)).await;
    engine.create("other-mr").await;
    let other = engine.wait_settled("other-mr").await;
    let other_db = connect_clone(&other).await;

    let repo = repo_with_migrations(root.path(), &[], &[("0001_fill.sql", FILL)]);
    let config = builtin_config(root.path(), "SELECT 1;");
    let limited = std::fs::read_to_string(&config).unwrap().replace(
        "migration_timeout: 60s",
        "migration_timeout: 600s\n  disk_limit_bytes: 67108864",
    );
    std::fs::write(&config, limited).unwrap();
    let gl = GitlabDouble::start("tok", "42", 7).await;
    let artifacts = root.path().join("artifacts");
    let mut env = mr_env(&gl.url, "tok", &repo, &config, &artifacts);
    env.extend(engine.run_env());

    let started = Instant::now();
    let out = preflight(&env, &["run"]);
    let took = started.elapsed();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        took < Duration::from_secs(120),
        "stopped, not run to the end: {took:?}"
    );

    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(artifacts.join("report.json")).unwrap())
            .unwrap();
    let m = &report["databases"][0]["migrations"][0];
    assert_eq!(m["outcome"], "disk_limit", "{report}");
    let grown = m["size_after"].as_i64().unwrap() - m["size_before"].as_i64().unwrap();
    eprintln!("disk_limit: stopped after growing {grown} bytes (limit 64 MiB) in {took:?}");
    assert!(
        (64 << 20..1 << 30).contains(&grown),
        "stopped soon after 64 MiB: grew {grown} bytes"
    );
    assert!(report["databases"][0]["error"].is_null(), "{report}");
    let note = gl.notes()[0].body.replace('\\', "");
    assert!(
        note.contains("`0001_fill` was stopped when it had grown the database"),
        "{note}"
    );
    assert!(note.contains("disk_limit"), "{note}");

    let alive: i32 = other_db.query_one("SELECT 1", &[]).await.unwrap().get(0);
    assert_eq!(alive, 1, "the other MR's clone still answers");
    let (status, _) = engine.call("DELETE", "/clone/other-mr", None).await;
    assert_eq!(status, 200);
    engine.wait_gone("other-mr").await;
}
