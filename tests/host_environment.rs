//! The job's host side against what a trigger variable or a hop on GitLab's path can do
//! (issue: proxies and redirects). A trigger variable outranks the runner's settings, so
//! `HTTPS_PROXY` & co. may name a listener of the attacker's; a load balancer on GitLab's
//! path may answer with a redirect to another origin. Neither may receive a request, let
//! alone `PRIVATE-TOKEN` or the engine's token. Every listener here is one the test
//! started on loopback.

mod common;

use common::engine::EngineProc;
use common::gitlab_double::{Fault, GitlabDouble};
use common::*;
use std::io::Read;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

/// A loopback listener that records every byte any client sends it (it never answers).
struct Recorder {
    port: u16,
    seen: Arc<Mutex<Vec<u8>>>,
}

impl Recorder {
    fn start() -> Recorder {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let into = seen.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let into = into.clone();
                std::thread::spawn(move || {
                    let mut stream = stream;
                    stream
                        .set_read_timeout(Some(std::time::Duration::from_secs(2)))
                        .ok();
                    let mut buf = [0u8; 4096];
                    into.lock().unwrap().extend_from_slice(b"<connection>");
                    while let Ok(n) = stream.read(&mut buf) {
                        if n == 0 {
                            break;
                        }
                        into.lock().unwrap().extend_from_slice(&buf[..n]);
                    }
                });
            }
        });
        Recorder { port, seen }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn seen(&self) -> String {
        String::from_utf8_lossy(&self.seen.lock().unwrap()).into_owned()
    }
}

const HEAD: &[(&str, &str)] = &[("0001_notes.sql", "CREATE TABLE notes (id int);")];

#[tokio::test(flavor = "multi_thread")]
async fn proxy_variables_send_nothing_to_the_proxy() {
    let proxy = Recorder::start();
    let (_engine_dir, engine) = EngineProc::ready_on_copy((7100, 7119)).await;
    let root = tempfile::tempdir().unwrap();
    let repo = repo_with_migrations(root.path(), &[], HEAD);
    let config = builtin_config(root.path(), "CREATE TABLE t (id int);");
    let gl = GitlabDouble::start("tok-secret-proxy", "42", 7).await;
    let artifacts = root.path().join("artifacts");
    let mut env = mr_env(&gl.url, "tok-secret-proxy", &repo, &config, &artifacts);
    env.extend(engine.run_env());
    for var in [
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "http_proxy",
        "https_proxy",
        "all_proxy",
    ] {
        env.push((var, proxy.url()));
    }
    env.push(("NO_PROXY", String::new()));
    env.push(("no_proxy", String::new()));
    let out = preflight(&env, &["run"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        !gl.notes().is_empty(),
        "the note went to GitLab directly: {}",
        text(&out)
    );
    let seen = proxy.seen();
    assert!(
        seen.is_empty(),
        "the proxy a trigger variable named got: {seen}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_redirect_from_gitlab_carries_the_token_nowhere() {
    let elsewhere = Recorder::start();
    let root = tempfile::tempdir().unwrap();
    let repo = repo_with_migrations(root.path(), &[], HEAD);
    let config = builtin_config(root.path(), "CREATE TABLE t (id int);");
    let gl = GitlabDouble::start("tok-secret-redirect", "42", 7).await;
    let artifacts = root.path().join("artifacts");
    let env = mr_env(&gl.url, "tok-secret-redirect", &repo, &config, &artifacts);
    // Every GitLab request of the run is answered with a redirect to another origin.
    gl.fault_next(&[Fault::RedirectTo(elsewhere.port); 64]);
    let out = preflight(&env, &["run"]);
    let seen = elsewhere.seen();
    assert!(seen.is_empty(), "the redirect's target got: {seen}");
    assert!(
        !text(&out).contains("tok-secret-redirect"),
        "{}",
        text(&out)
    );
    assert_ne!(
        out.status.code(),
        Some(0),
        "a redirect is no answer: {}",
        text(&out)
    );
}
