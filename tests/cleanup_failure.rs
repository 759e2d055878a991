//! A cleanup step that fails is an incident, not a footnote: when the clone engine is gone
//! by the time the job gives its clone back, the clone (production data) is left running,
//! so the full report and the job log name it and the job exits 3 even though every
//! migration succeeded.

mod common;

use common::engine::*;
use common::gitlab_double::GitlabDouble;
use common::*;
use std::time::{Duration, Instant};

/// Starts `preflight run` on `engine` for an MR with one two-second migration; answers the
/// GitLab double, the artifacts directory and the job (its output once joined).
async fn start_job(
    root: &std::path::Path,
    engine: &EngineProc,
) -> (
    GitlabDouble,
    std::path::PathBuf,
    std::thread::JoinHandle<std::process::Output>,
) {
    let repo = repo_with_migrations(root, &[], &[("0001_wait.sql", "SELECT pg_sleep(2);")]);
    let config = builtin_config(root, "SELECT 1;");
    let gl = GitlabDouble::start("tok", "42", 7).await;
    let artifacts = root.join("artifacts");
    let mut env = mr_env(&gl.url, "tok", &repo, &config, &artifacts);
    env.extend(engine.run_env());
    (
        gl,
        artifacts,
        std::thread::spawn(move || preflight(&env, &["run"])),
    )
}

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
    let (gl, artifacts, job) = start_job(root.path(), &engine).await;

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

/// A process of the clone's user that the engine cannot end (here something outside the
/// clone keeps starting new ones faster than they are killed) would own the next clone on
/// that port. The engine keeps the clone FATAL, holding its port, with the survivors named;
/// the job's cleanup reports it and exits 3; a later delete, once they are gone, removes it.
#[tokio::test(flavor = "multi_thread")]
async fn a_process_that_outlives_its_clone_is_named_and_fails_the_job() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("SKIPPED: confining clone servers needs root, and this test runs as a user");
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let pool = root.path().join("pool");
    // One port, so the clone's user is known before it exists.
    let port = 7140u32;
    let engine = EngineProc::ready(
        root.path(),
        &pool,
        &format!("backend: copy\nport_range: [{port}, {port}]\n"),
    )
    .await;
    let uid = 1_500_000 + port;
    // Whatever an earlier, failed run of this test left of that user goes first.
    let _ = preflight::engine::processes::kill_all(uid, Duration::from_secs(5)).await;
    let (gl, artifacts, job) = start_job(root.path(), &engine).await;

    // Once the clone's server runs as its user, something keeps starting processes as it.
    let started = Instant::now();
    while preflight::engine::processes::processes_of(uid).is_empty() {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the clone's server never ran as user {uid}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let respawner = Respawner::start(uid);
    let out = job.join().unwrap();
    drop(respawner);

    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cleanup left things behind"), "{err}");
    assert!(err.contains("survived its end"), "{err}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(artifacts.join("report.json")).unwrap())
            .unwrap();
    let failures: Vec<&str> = report["cleanup_failures"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f.as_str())
        .collect();
    assert!(
        failures
            .iter()
            .any(|f| f.contains(&format!("clone's user {uid} survived"))),
        "{failures:?}"
    );
    assert_eq!(
        report["databases"][0]["migrations"][0]["outcome"],
        "succeeded"
    );
    let full = std::fs::read_to_string(artifacts.join("report.md")).unwrap();
    assert!(
        full.contains("survived its end"),
        "the full report names it"
    );
    let states: Vec<String> = gl.statuses().into_iter().map(|s| s.state).collect();
    assert_eq!(states.last().map(String::as_str), Some("failed"));

    // The engine still lists the clone, FATAL with the reason, holding the port.
    let (_, clones) = engine.call("GET", "/clones", None).await;
    let clone = clones.as_array().unwrap()[0].clone();
    assert_eq!(clone["status"]["code"], "FATAL", "{clone}");
    assert!(
        clone["status"]["message"]
            .as_str()
            .unwrap()
            .contains("survived its end"),
        "{clone}"
    );
    // Once nothing keeps them alive, a later delete ends them and removes the clone.
    let id = clone["id"].as_str().unwrap().to_string();
    let (status, body) = engine.call("DELETE", &format!("/clone/{id}"), None).await;
    assert_eq!(status, 200, "{body}");
    engine.wait_gone(&id).await;
    assert_eq!(
        preflight::engine::processes::processes_of(uid),
        Vec::<i32>::new(),
        "a process of the clone's user is left"
    );
}

/// Keeps starting processes of `uid` until dropped (a failing test included), then ends
/// them all.
struct Respawner {
    child: std::process::Child,
    uid: u32,
}

impl Respawner {
    fn start(uid: u32) -> Respawner {
        let child = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!(
                "while :; do setpriv --reuid={uid} --regid={uid} --clear-groups sleep 60 & \
                 sleep 0.01; done"
            ))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        Respawner { child, uid }
    }
}

impl Drop for Respawner {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        for pid in preflight::engine::processes::processes_of(self.uid) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
}
