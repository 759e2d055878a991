//! A cleanup step that fails is an incident, not a footnote: when the clone engine is gone
//! by the time the job gives its clone back, the clone (production data) is left running,
//! so the full report and the job log name it and the job exits 3 even though every
//! migration succeeded.

mod common;

use common::engine::*;
use common::gitlab_double::GitlabDouble;
use common::*;
use std::path::Path;
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

/// A process of the clone's user that the engine cannot end (here one SIGKILL cannot
/// reach: it waits in the kernel on a read that is never answered) would own the next
/// clone on that port. The engine keeps the clone FATAL, holding its port, with the survivors named;
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
    if !Unkillable::available() {
        return;
    }
    // Whatever an earlier, failed run of this test left of that user goes first.
    let _ = preflight::engine::processes::kill_all(uid, Duration::from_secs(5)).await;
    let (gl, artifacts, job) = start_job(root.path(), &engine).await;

    // Once the clone's server runs as its user, a process of that user gets stuck.
    let started = Instant::now();
    while preflight::engine::processes::processes_of(uid).is_empty() {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the clone's server never ran as user {uid}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let unkillable = Unkillable::start(uid);
    let out = job.join().unwrap();

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
    // Once nothing keeps it alive, a later delete ends it and removes the clone.
    drop(unkillable);
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

/// A process of `uid` that SIGKILL cannot end: it reads a file of a FUSE file system
/// (`tests/fixtures/hung_fuse.py`) whose daemon received the read and never answers, so the
/// reader waits in the kernel uninterruptibly. Dropped (a failing test included), the
/// daemon ends, the read fails, the reader dies and is collected, the mount goes.
struct Unkillable {
    daemon: std::process::Child,
    reader: Option<std::process::Child>,
    mount: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Unkillable {
    /// None (and why, printed) where this machine cannot make one.
    fn available() -> bool {
        let ok = Path::new("/dev/fuse").exists()
            && std::process::Command::new("/usr/bin/python3")
                .args(["-c", "import fusepy"])
                .output()
                .is_ok_and(|o| o.status.success());
        if !ok {
            eprintln!(
                "SKIPPED: no /dev/fuse or no python3-fusepy (ops/dev-setup.sh installs it), so \
                 no process that survives SIGKILL can be made here"
            );
        }
        ok
    }

    fn start(uid: u32) -> Unkillable {
        use std::io::BufRead;
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let mount = dir.path().join("mnt");
        std::fs::create_dir(&mount).unwrap();
        for d in [dir.path(), &mount] {
            std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/hung_fuse.py");
        let mut daemon = std::process::Command::new("/usr/bin/python3")
            .arg(script)
            .arg(&mount)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut said = std::io::BufReader::new(daemon.stdout.take().unwrap()).lines();
        assert_eq!(said.next().unwrap().unwrap(), "mounting");
        let started = Instant::now();
        while !mount.join("hang").exists() {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "the FUSE mount never came"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        let reader = std::process::Command::new("setpriv")
            .args([
                &format!("--reuid={uid}"),
                &format!("--regid={uid}"),
                "--clear-groups",
                "cat",
            ])
            .arg(mount.join("hang"))
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // The daemon has the read: from now on the reader cannot be killed.
        assert_eq!(said.next().unwrap().unwrap(), "read");
        Unkillable {
            daemon,
            reader: Some(reader),
            mount,
            _dir: dir,
        }
    }
}

impl Drop for Unkillable {
    fn drop(&mut self) {
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
        if let Some(mut reader) = self.reader.take() {
            let _ = reader.kill();
            let _ = reader.wait();
        }
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.mount)
            .status();
    }
}
