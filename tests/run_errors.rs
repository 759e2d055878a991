//! `preflight run` when things are wrong: missing CI variables, Docker or the clone
//! engine unreachable, and a cancelled job. Each must say what and where, exit with its
//! documented code, and leave nothing behind.

mod common;

use common::gitlab_double::{Fault, GitlabDouble};
use common::*;
use std::time::{Duration, Instant};

#[test]
fn every_missing_ci_variable_is_listed_at_once() {
    let out = preflight(&[], &["run"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    for name in [
        "PREFLIGHT_MR_HEAD_SHA",
        "CI_SERVER_URL",
        "PREFLIGHT_GITLAB_TOKEN",
        "CI_MERGE_REQUEST_PROJECT_ID",
        "CI_MERGE_REQUEST_IID",
    ] {
        assert!(err.contains(name), "{name} missing from: {err}");
    }
}

#[test]
fn a_bad_config_file_names_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("p.yml");
    std::fs::write(&cfg, "engine:\n  knd: dle\n").unwrap();
    let out = preflight(
        &[("PREFLIGHT_CONFIG", cfg.display().to_string())],
        &["run", "--print-only", "--all-migrations"],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("knd"),
        "{}",
        text(&out)
    );
}

fn env_for(
    gl: &GitlabDouble,
    repo: &std::path::Path,
    root: &std::path::Path,
) -> Vec<(&'static str, String)> {
    let config = builtin_config(root, "CREATE TABLE t (id int);");
    mr_env(&gl.url, "tok", repo, &config, &root.join("artifacts"))
}

const HEAD: &[(&str, &str)] = &[("0001_add.sql", "ALTER TABLE t ADD COLUMN c int;")];

#[tokio::test(flavor = "multi_thread")]
async fn docker_unreachable_is_an_infrastructure_error_that_still_reports() {
    let root = tempfile::tempdir().unwrap();
    let repo = repo_with_migrations(root.path(), &[], HEAD);
    let gl = GitlabDouble::start("tok", "42", 7).await;
    let mut env = env_for(&gl, &repo, root.path());
    let socket = root.path().join("no-docker.sock");
    env.push(("DOCKER_HOST", format!("unix://{}", socket.display())));
    let out = preflight(&env, &["run"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("Docker is not reachable") && err.contains("no-docker.sock"),
        "{err}"
    );
    let notes = gl.notes();
    assert_eq!(notes.len(), 1, "the MR still hears about it");
    assert!(
        notes[0].body.contains("could not finish"),
        "{}",
        notes[0].body
    );
    assert!(
        !notes[0].body.contains("no-docker.sock"),
        "infrastructure detail stays in the job log"
    );
    assert_never_cloned(&root.path().join("engine"));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreachable_clone_engine_is_named_with_its_address() {
    let root = tempfile::tempdir().unwrap();
    let repo = repo_with_migrations(root.path(), &[], HEAD);
    let gl = GitlabDouble::start("tok", "42", 7).await;
    // A loopback port this test owned a moment ago and closed: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut env = env_for(&gl, &repo, root.path());
    env.push(("PREFLIGHT_ENGINE_URL", format!("http://127.0.0.1:{port}")));
    env.push(("PREFLIGHT_ENGINE_TOKEN", "engine-secret-token".into()));
    let out = preflight(&env, &["run"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("not reachable") && err.contains(&port.to_string()),
        "{err}"
    );
    assert!(!err.contains("engine-secret-token"));
    let note = &gl.notes()[0].body;
    assert!(
        note.contains("No clone of the production database could be made, so no migration ran")
            && !note.contains("Migrations ran"),
        "the note says what really happened: {note}"
    );
    let run = run_id(&root.path().join("artifacts"));
    assert_no_box_or_run_dir(&run).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_cancels_cleans_up_and_still_posts_a_note() {
    let root = tempfile::tempdir().unwrap();
    let repo = repo_with_migrations(
        root.path(),
        &[],
        &[("0001_slow.sql", "SELECT pg_sleep(60);")],
    );
    let gl = GitlabDouble::start("tok", "42", 7).await;
    let env = env_for(&gl, &repo, root.path());
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_preflight"));
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap())
        .arg("run");
    for (k, v) in &env {
        cmd.env(k, v);
    }
    let child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the migration runs inside the box.
    let docker = preflight::sandbox::connect_docker().await.unwrap();
    let started = Instant::now();
    let engine_clones = clones_dir(&root.path().join("engine"));
    loop {
        let running = std::fs::read_dir(&engine_clones)
            .map(|d| d.count() > 0)
            .unwrap_or(false);
        if running {
            let id = std::fs::read_dir(&engine_clones)
                .unwrap()
                .next()
                .unwrap()
                .unwrap()
                .file_name();
            let run: String = id.to_string_lossy().trim_end_matches("-main").to_string();
            if !preflight::sandbox::boxes_of_run(&docker, &run)
                .await
                .unwrap()
                .is_empty()
            {
                break;
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the box never started"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    assert!(
        started.elapsed() < Duration::from_secs(50),
        "cancelled promptly, not after the sleep"
    );
    let notes = gl.notes();
    assert_eq!(notes.len(), 1, "{}", text(&out));
    // Cancelled everywhere: the headline, no database "stopped on an infrastructure
    // error", the commit status, report.json.
    let note = &notes[0].body;
    assert!(note.contains("the rehearsal was cancelled"), "{note}");
    assert!(!note.contains("infrastructure error"), "{note}");
    let states: Vec<String> = gl.statuses().into_iter().map(|s| s.state).collect();
    assert_eq!(
        states.last().map(String::as_str),
        Some("canceled"),
        "{states:?}"
    );
    let report: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root.path().join("artifacts/report.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(report["ending"], "cancelled");
    assert_eq!(report["databases"][0]["error"], serde_json::Value::Null);
    let run = run_id(&root.path().join("artifacts"));
    assert_nothing_left(&run, &root.path().join("engine")).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_while_gitlab_never_answers_the_note_exits_within_seconds() {
    let root = tempfile::tempdir().unwrap();
    let repo = repo_with_migrations(root.path(), &[], HEAD);
    let gl = GitlabDouble::start("tok", "42", 7).await;
    // Every request hangs: with 30 s timeouts and 5 tries, posting alone could take minutes.
    gl.fault_next(&[Fault::Hang; 20]);
    let env = env_for(&gl, &repo, root.path());
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_preflight"));
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap())
        .arg("run")
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let child = cmd.spawn().unwrap();
    let started = Instant::now();
    while gl.requests().is_empty() {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "preflight never reached GitLab"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let signalled = Instant::now();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let out = child.wait_with_output().unwrap();
    let took = signalled.elapsed();
    eprintln!("exited {took:?} after SIGTERM while posting");
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    assert!(
        took < Duration::from_secs(15),
        "exited {took:?} after SIGTERM (5 s grace for the note)"
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("cancelled while posting"),
        "{}",
        text(&out)
    );
    let run = run_id(&root.path().join("artifacts"));
    assert_nothing_left(&run, &root.path().join("engine")).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_throttling_gitlab_is_waited_for_and_a_hanging_one_given_up_on() {
    let root = tempfile::tempdir().unwrap();
    let repo = repo_with_migrations(root.path(), &[], HEAD);
    let gl = GitlabDouble::start("tok", "42", 7).await;
    let env = env_for(&gl, &repo, root.path());
    let config = root.path().join("preflight.yml");
    let mut yaml = std::fs::read_to_string(&config).unwrap();
    yaml.push_str("gitlab:\n  request_timeout: 1s\n  attempts: 2\n");
    std::fs::write(&config, yaml).unwrap();

    // 429 with Retry-After on the first request: waited for, then the note is posted.
    gl.fault_next(&[Fault::RetryAfter(2)]);
    let out = preflight(&env, &["run"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(gl.notes().len(), 1, "{}", text(&out));
    let requests = gl.requests();
    assert!(
        requests.len() >= 2 && requests[0].path == requests[1].path,
        "{requests:?}"
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("trying again in 2s"),
        "{}",
        text(&out)
    );

    // Never answering: two tries of 1 s per request, then a clear error naming the setting.
    gl.fault_next(&[Fault::Hang; 20]);
    let started = Instant::now();
    let out = preflight(&env, &["run"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("did not answer") && err.contains("gitlab.request_timeout"),
        "{err}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "{:?}",
        started.elapsed()
    );
}
