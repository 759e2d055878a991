//! `preflight run` as CI runs it against a clone engine service: the job gets its clone
//! from `preflight engine serve` over HTTP (the same client that speaks to Database Lab
//! Engine), posts the note, and leaves no clone behind on the engine.

mod common;

use common::engine::*;
use common::gitlab_double::GitlabDouble;
use common::*;

#[tokio::test(flavor = "multi_thread")]
async fn run_takes_its_clone_from_the_engine_service_and_gives_it_back() {
    let root = tempfile::tempdir().unwrap();
    let pool = root.path().join("pool");
    let engine = EngineProc::ready(
        root.path(),
        &pool,
        "backend: copy\nport_range: [6500, 6599]\n",
    )
    .await;

    let repo = repo_with_migrations(
        root.path(),
        &[],
        &[(
            "0001_index_items_name.sql",
            "CREATE INDEX items_name_idx ON items (name);",
        )],
    );
    let config = builtin_config(root.path(), "SELECT 1;");
    let gl = GitlabDouble::start("glpat-engine-run", "42", 7).await;
    let artifacts = root.path().join("artifacts");
    let mut env = mr_env(&gl.url, "glpat-engine-run", &repo, &config, &artifacts);
    env.extend(engine.run_env());

    let out = preflight(&env, &["run"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let notes = gl.notes();
    assert_eq!(notes.len(), 1);
    assert!(
        notes[0]
            .body
            .replace('\\', "")
            .contains("0001_index_items_name"),
        "{}",
        notes[0].body
    );
    let report = std::fs::read_to_string(artifacts.join("report.json")).unwrap();
    assert!(
        report.contains("items_name_idx"),
        "the clone held the engine's data"
    );

    // The engine created the clone and the job deleted it.
    let log = engine.log_text();
    assert!(log.contains("creating a clone"), "{log}");
    assert!(log.contains("deleting a clone"), "{log}");
    let (_, clones) = engine.call("GET", "/clones", None).await;
    let started = std::time::Instant::now();
    let mut clones = clones;
    while clones.as_array().is_some_and(|a| !a.is_empty()) {
        assert!(started.elapsed().as_secs() < 30, "clones left: {clones}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        clones = engine.call("GET", "/clones", None).await.1;
    }
    assert_eq!(servers_under(&pool), "");
    assert!(
        !text(&out).contains(TOKEN),
        "the engine token is never printed"
    );
    // The built-in engine was not used.
    assert!(!root.path().join("engine").exists());
}
