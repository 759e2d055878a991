//! A cleanup step that fails is an incident, not a footnote: when the clone engine is gone
//! by the time the job gives its clone back, the clone (production data) is left running,
//! so the full report and the job log name it and the job exits 3 even though every
//! migration succeeded.

mod common;

use common::engine::*;
use common::gitlab_double::GitlabDouble;
use common::*;
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread")]
async fn a_clone_that_could_not_be_destroyed_is_named_and_fails_the_job() {
    let root = tempfile::tempdir().unwrap();
    let pool = root.path().join("pool");
    let mut engine = EngineProc::ready(
        root.path(),
        &pool,
        "backend: copy\nport_range: [6920, 6939]\n",
    )
    .await;
    let repo = repo_with_migrations(
        root.path(),
        &[],
        &[("0001_wait.sql", "SELECT pg_sleep(2);")],
    );
    let config = builtin_config(root.path(), "SELECT 1;");
    let gl = GitlabDouble::start("tok", "42", 7).await;
    let artifacts = root.path().join("artifacts");
    let mut env = mr_env(&gl.url, "tok", &repo, &config, &artifacts);
    env.extend(engine.run_env());
    let job = std::thread::spawn(move || preflight(&env, &["run"]));

    // Once the job has its clone and its box (the clone is named `<run id>-main`), the
    // engine goes away (a crash): nobody can destroy the clone.
    let docker = preflight::sandbox::connect_docker().await.unwrap();
    let started = Instant::now();
    'wait: loop {
        let (_, clones) = engine.call("GET", "/clones", None).await;
        for clone in clones.as_array().into_iter().flatten() {
            let run = clone["id"]
                .as_str()
                .unwrap_or_default()
                .trim_end_matches("-main");
            let boxes = preflight::sandbox::boxes_of_run(&docker, run)
                .await
                .unwrap();
            if !run.is_empty() && !boxes.is_empty() {
                break 'wait;
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the job never got its box"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    engine.crash();
    let out = job.join().unwrap();

    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cleanup left things behind"), "{err}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(artifacts.join("report.json")).unwrap())
            .unwrap();
    let failures = report["cleanup_failures"].as_array().unwrap();
    assert!(
        failures
            .iter()
            .any(|f| f.as_str().unwrap_or_default().contains("clone")),
        "{report}"
    );
    assert_eq!(
        report["databases"][0]["migrations"][0]["outcome"],
        "succeeded"
    );
    // One ending everywhere: an error, though every migration succeeded.
    assert_eq!(report["ending"], "infrastructure", "{}", report["ending"]);
    let notes = gl.notes();
    let note = &notes.last().expect("a note").body;
    assert!(
        note.contains("preflight could not finish the rehearsal"),
        "the headline says so: {note}"
    );
    assert!(!note.contains("all migrations succeeded"), "{note}");
    let states: Vec<String> = gl.statuses().into_iter().map(|s| s.state).collect();
    assert_eq!(
        states.last().map(String::as_str),
        Some("failed"),
        "{states:?}"
    );
    assert_eq!(gl.labels(), ["preflight::failed"]);
    assert!(
        servers_under(&pool).contains("/clones/"),
        "the clone is still there"
    );
    // The engine's Drop kills what it left: the test leaves nothing behind.
}
