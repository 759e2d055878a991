//! Secrets never leave their one use: a run with known token values (the GitLab token,
//! the engine token, and a `CI_JOB_TOKEN` preflight must ignore) is searched for them
//! everywhere: its output (the job log), every artifact, the engine's log, every request
//! the GitLab double received (body, path, query) and the box's environment, which a
//! migration prints. The GitLab token may appear only as the authentication header.

mod common;

use common::engine::*;
use common::gitlab_double::GitlabDouble;
use common::*;
use std::path::Path;

const GITLAB_TOKEN: &str = "glpat-SECRET-gitlab-4f9e2a7c1b";
const JOB_TOKEN: &str = "glcbt-SECRET-job-8d3b6e0f55";

fn files_under(dir: &Path, out: &mut Vec<(String, String)>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files_under(&path, out);
        } else {
            let text = String::from_utf8_lossy(&std::fs::read(&path).unwrap()).into_owned();
            out.push((path.display().to_string(), text));
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn tokens_appear_nowhere_but_the_authentication_header() {
    let root = tempfile::tempdir().unwrap();
    let pool = root.path().join("pool");
    let engine = EngineProc::ready(
        root.path(),
        &pool,
        "backend: copy\nport_range: [6800, 6819]\n",
    )
    .await;
    let repo = repo_with_migrations(
        root.path(),
        &[],
        &[(
            "0001_print_the_environment.sql",
            "\\! env; ls -l /var/run/docker.sock /run/docker.sock 2>&1; echo ENV-DUMPED\nCREATE TABLE env_checked (id int);",
        )],
    );
    let config = builtin_config(root.path(), "SELECT 1;");
    let gl = GitlabDouble::start(GITLAB_TOKEN, "42", 7).await;
    let artifacts = root.path().join("artifacts");
    let mut env = mr_env(&gl.url, GITLAB_TOKEN, &repo, &config, &artifacts);
    env.extend(engine.run_env());
    env.push(("CI_JOB_TOKEN", JOB_TOKEN.to_string()));
    env.push(("PREFLIGHT_LOG", "preflight=debug".to_string()));
    let out = preflight(&env, &["run"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));

    let secrets = [GITLAB_TOKEN, TOKEN, JOB_TOKEN];
    // The job log.
    let job_log = text(&out);
    // Every artifact, including the box's output with its environment.
    let mut files = Vec::new();
    files_under(&artifacts, &mut files);
    let box_log = files
        .iter()
        .find(|(_, t)| t.contains("ENV-DUMPED"))
        .map(|(_, t)| t.clone())
        .expect("the migration's output is in the artifacts");
    assert!(box_log.contains("PGHOST=/run/preflight"), "{box_log}");
    assert!(
        box_log.contains("No such file"),
        "no Docker socket in the box: {box_log}"
    );
    for name in [
        "CI_JOB_TOKEN",
        "PREFLIGHT_GITLAB_TOKEN",
        "PREFLIGHT_ENGINE_TOKEN",
        "DOCKER_HOST",
        "PGPASSWORD",
        "CI_SERVER_URL",
    ] {
        assert!(!box_log.contains(name), "{name} entered the box: {box_log}");
    }
    files.push(("engine log".into(), engine.log_text()));
    files.push(("job log".into(), job_log));
    for (where_, text) in &files {
        for s in secrets {
            assert!(!text.contains(s), "a secret appears in {where_}");
        }
    }
    // Requests: the GitLab token only as the PRIVATE-TOKEN header.
    let requests = gl.requests();
    assert!(!requests.is_empty());
    for r in &requests {
        for s in secrets {
            assert!(
                !r.body.contains(s) && !r.path.contains(s) && !r.query.contains(s),
                "a secret is in {} {}",
                r.method,
                r.path
            );
        }
        assert_eq!(
            r.token.as_deref(),
            Some(GITLAB_TOKEN),
            "authenticated by header"
        );
    }
}
