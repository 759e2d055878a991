//! The box has no network: from inside it, a TCP listener this test started on the host
//! cannot be reached, while the database socket the bridge provides works. A control
//! container on a bridge network the test created reaches the same listener, so the
//! test would fail if the box could.

mod common;

use bollard::models::{ContainerCreateBody, HostConfig, NetworkCreateRequest};
use bollard::query_parameters::CreateContainerOptions;
use preflight::bridge::{Bridge, Upstream};
use preflight::clone::builtin::BuiltinEngine;
use preflight::clone::{CloneEngine, CloneRequest};
use preflight::config::file::{BuiltinSection, SourceSection};
use preflight::sandbox::output::CappedLog;
use preflight::sandbox::{connect_docker, remove_container, BoxSpec, ExecEnd, Sandbox};
use preflight::secret::Secret;
use std::os::unix::fs::PermissionsExt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

const IMAGE: &str = "preflight-box:bookworm";

fn tcp_probe(host: &str, port: u16) -> Vec<String> {
    let script = format!(
        "if timeout 5 bash -c 'exec 3<>/dev/tcp/{host}/{port}'; then echo PROBE-CONNECTED; else echo PROBE-UNREACHABLE; fi"
    );
    vec!["bash".into(), "-c".into(), script]
}

async fn exec(
    sandbox: &Sandbox,
    cmd: Vec<String>,
    env: Vec<String>,
    dir: &std::path::Path,
) -> (ExecEnd, String) {
    let path = dir.join(format!("out-{}", rand_suffix()));
    let mut log = CappedLog::create(&path, 1 << 20).unwrap();
    let end = sandbox
        .exec(cmd, env, Duration::from_secs(30), &mut log)
        .await
        .unwrap();
    log.finish().unwrap();
    (end, std::fs::read_to_string(path).unwrap())
}

fn rand_suffix() -> String {
    Secret::generate(8).expose().to_lowercase()
}

#[tokio::test(flavor = "multi_thread")]
async fn box_reaches_the_database_socket_and_nothing_else() {
    let root = tempfile::tempdir().unwrap();
    let docker = connect_docker()
        .await
        .expect("Docker must run for this test (see README)");

    // A clone with one known row, and the bridge into a private socket directory.
    let seed = root.path().join("seed.sql");
    std::fs::write(&seed, "CREATE TABLE t (id int); INSERT INTO t VALUES (42);").unwrap();
    let engine = BuiltinEngine::new(&BuiltinSection {
        work_dir: root.path().join("engine"),
        source: SourceSection::SqlFile { path: seed },
        ..BuiltinSection::default()
    })
    .unwrap();
    let id = format!("iso-{}", rand_suffix());
    let clone = engine
        .create(
            &CloneRequest {
                id: id.clone(),
                db_name: "app".into(),
                username: "preflight".into(),
                password: Secret::generate(32),
                restricted: true,
                snapshot: None,
            },
            Duration::from_secs(60),
        )
        .await
        .unwrap();
    let sock = root.path().join("sock");
    let migrations = root.path().join("migrations");
    for d in [&sock, &migrations] {
        std::fs::create_dir_all(d).unwrap();
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let bridge = Bridge::start(
        &sock,
        Upstream {
            host: clone.host.clone(),
            port: clone.port,
            user: clone.username.clone(),
            database: clone.db_name.clone(),
            password: clone.password.clone(),
        },
    )
    .unwrap();

    // The test's own listener on the host, and its own bridge network.
    let listener = tokio::net::TcpListener::bind("0.0.0.0:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = accepted.clone();
    let accept_task = tokio::spawn(async move {
        while let Ok((_s, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
        }
    });
    let net = format!("pf-iso-{}", rand_suffix());
    docker
        .create_network(NetworkCreateRequest {
            name: net.clone(),
            driver: Some("bridge".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    let gateway = docker
        .inspect_network(&net, None)
        .await
        .unwrap()
        .ipam
        .and_then(|i| i.config)
        .and_then(|c| c.into_iter().find_map(|c| c.gateway))
        .expect("the test network has a gateway");

    // Control: a container on the test's network reaches the listener.
    let control = docker
        .create_container(
            Some(CreateContainerOptions {
                name: Some(format!("{net}-control")),
                ..Default::default()
            }),
            ContainerCreateBody {
                image: Some(IMAGE.into()),
                cmd: Some(vec!["sleep".into(), "infinity".into()]),
                host_config: Some(HostConfig {
                    network_mode: Some(net.clone()),
                    init: Some(true),
                    ..Default::default()
                }),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    docker.start_container(&control.id, None).await.unwrap();

    let sandbox = Sandbox::create(
        &docker,
        &BoxSpec {
            image: IMAGE.into(),
            run_id: id.clone(),
            name: format!("{id}-box"),
            checkout: root.path().to_path_buf(),
            migrations_dir: migrations.clone(),
            socket_dir: sock.clone(),
        },
    )
    .await
    .unwrap();

    let result = async {
        let probe = tcp_probe(&gateway, port);
        let exec_in = |container: &str| {
            let docker = docker.clone();
            let cmd = probe.clone();
            let container = container.to_string();
            async move {
                let exec = docker
                    .create_exec(
                        &container,
                        bollard::exec::CreateExecOptions {
                            cmd: Some(cmd),
                            attach_stdout: Some(true),
                            attach_stderr: Some(true),
                            ..Default::default()
                        },
                    )
                    .await
                    .unwrap();
                let mut out = String::new();
                if let bollard::exec::StartExecResults::Attached { mut output, .. } =
                    docker.start_exec(&exec.id, None).await.unwrap()
                {
                    use futures_util::StreamExt;
                    while let Some(Ok(chunk)) = output.next().await {
                        out.push_str(&chunk.to_string());
                    }
                }
                out
            }
        };
        let control_out = exec_in(&control.id).await;
        assert!(
            control_out.contains("PROBE-CONNECTED"),
            "control could not reach the listener: {control_out}"
        );
        let seen_by_control = accepted.load(Ordering::SeqCst);
        assert!(seen_by_control >= 1);

        let (_, box_out) = exec(&sandbox, tcp_probe(&gateway, port), vec![], root.path()).await;
        assert!(
            box_out.contains("PROBE-UNREACHABLE"),
            "the box reached the host listener: {box_out}"
        );
        let (_, loopback) = exec(&sandbox, tcp_probe("127.0.0.1", port), vec![], root.path()).await;
        assert!(loopback.contains("PROBE-UNREACHABLE"), "{loopback}");
        assert_eq!(
            accepted.load(Ordering::SeqCst),
            seen_by_control,
            "no connection came from the box"
        );

        let (end, rows) = exec(
            &sandbox,
            vec!["psql".into(), "-XtAc".into(), "SELECT id FROM t".into()],
            vec![
                "PGHOST=/run/preflight".into(),
                "PGUSER=nobody".into(),
                "PGDATABASE=whatever".into(),
            ],
            root.path(),
        )
        .await;
        assert_eq!(end, ExecEnd::Exited(0), "{rows}");
        assert_eq!(rows.trim(), "42");
        let (_, env) = exec(&sandbox, vec!["env".into()], vec![], root.path()).await;
        assert!(
            !env.contains(clone.password.expose()),
            "the clone password entered the box"
        );
    }
    .await;

    sandbox.remove().await.unwrap();
    remove_container(&docker, &control.id).await.unwrap();
    docker.remove_network(&net).await.unwrap();
    accept_task.abort();
    bridge.stop().await;
    engine.destroy(&id).await.unwrap();
    result
}
