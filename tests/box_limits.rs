//! The box's limits as a run meets them: output past the cap is cut in the middle (the
//! log keeps the first and last part and says how much was cut), and a migration past
//! the wall-clock limit is killed, reported as a timeout, and leaves nothing behind.

mod common;

use common::gitlab_double::GitlabDouble;
use common::*;
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread")]
async fn huge_output_is_cut_and_a_migration_past_the_time_limit_is_killed() {
    let root = tempfile::tempdir().unwrap();
    let repo = repo_with_migrations(
        root.path(),
        &[],
        &[
            (
                "0001_prints_megabytes.sql",
                "SELECT 'first line'; SELECT repeat('x', 1000) FROM generate_series(1, 5000); SELECT 'last line';",
            ),
            ("0002_never_ends.sql", "SELECT pg_sleep(600);"),
        ],
    );
    let config = builtin_config(root.path(), "CREATE TABLE t (id int);");
    let limited = std::fs::read_to_string(&config).unwrap().replace(
        "migration_timeout: 60s",
        "migration_timeout: 3s\n  output_limit_bytes: 65536",
    );
    std::fs::write(&config, limited).unwrap();
    let gl = GitlabDouble::start("tok", "42", 7).await;
    let artifacts = root.path().join("artifacts");
    let env = mr_env(&gl.url, "tok", &repo, &config, &artifacts);

    let started = Instant::now();
    let out = preflight(&env, &["run"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "the sleeping migration was stopped, not waited for"
    );

    let log =
        std::fs::read_to_string(artifacts.join("main/001_0001_prints_megabytes.log")).unwrap();
    assert!(
        log.len() < 80 * 1024,
        "output capped: {} bytes kept",
        log.len()
    );
    assert!(
        log.contains("first line") && log.contains("last line"),
        "both ends kept"
    );
    assert!(log.contains("cut"), "the log says output was cut");

    let notes = gl.notes();
    let note = notes[0].body.replace('\\', "");
    assert!(
        note.contains("`0002_never_ends` was stopped at the time limit"),
        "{note}"
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(artifacts.join("report.json")).unwrap())
            .unwrap();
    let outcome = &report["databases"][0]["migrations"][1]["outcome"];
    assert_eq!(outcome, "timed_out", "{report}");
    let run = run_id(&artifacts);
    assert_nothing_left(&run, &root.path().join("engine")).await;
}
