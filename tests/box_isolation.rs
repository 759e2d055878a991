//! The box has no network. From inside it, none of these can be reached, while the
//! database socket the bridge provides works:
//! - a TCP listener this test started on the host (IPv4, and IPv6 on `::1`),
//! - a TCP listener in a container on a second network this test created,
//! - a DNS server (a UDP responder) in that container: a lookup gets no answer.
//!
//! Each listener is shown to work from outside the box (a control container on the
//! test's network, or this test itself), so the test would fail if the box could reach
//! it. The box has no interface but loopback. The test aims only at addresses it brought
//! up itself.

mod common;

use bollard::models::{ContainerCreateBody, HostConfig, NetworkCreateRequest};
use bollard::query_parameters::CreateContainerOptions;
use common::seeded_clone::{seeded_clone, SeededClone};
use futures_util::FutureExt;
use preflight::bridge::{Bridge, Upstream};
use preflight::clone::CloneEngine;
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

/// A DNS query for `name` (type A), sent by perl over UDP to `host:port`; prints
/// DNS-ANSWERED or DNS-NO-ANSWER.
fn dns_probe(host: &str, port: u16, name: &str) -> Vec<String> {
    let labels: String = name
        .split('.')
        .map(|l| format!("chr({}).'{l}'.", l.len()))
        .collect();
    let script = format!(
        "use IO::Socket::INET; \
         my $q = pack('nnnnnn', 0x1234, 0x0100, 1, 0, 0, 0) . {labels} chr(0) . pack('nn', 1, 1); \
         my $s = IO::Socket::INET->new(PeerAddr => '{host}', PeerPort => {port}, Proto => 'udp') or do {{ print qq(DNS-NO-ANSWER socket: $!\n); exit 0 }}; \
         send($s, $q, 0) or do {{ print qq(DNS-NO-ANSWER send: $!\n); exit 0 }}; \
         my $r = ''; my $rin = ''; vec($rin, fileno($s), 1) = 1; \
         if (select($rin, undef, undef, 3) && recv($s, $r, 512, 0) && length($r)) {{ print qq(DNS-ANSWERED\n) }} else {{ print qq(DNS-NO-ANSWER\n) }}"
    );
    vec!["perl".into(), "-e".into(), script]
}

/// Runs detached in the control container: a TCP listener on 7000 and a UDP responder
/// on 5353 that answers every datagram with itself (enough to be "an answer").
const CONTROL_SERVERS: &str = "perl -MIO::Socket::INET -e 'my $t = IO::Socket::INET->new(LocalPort => 7000, Listen => 5, ReuseAddr => 1) or die; while (my $c = $t->accept) { close $c }' & \
    perl -MIO::Socket::INET -e 'my $u = IO::Socket::INET->new(LocalPort => 5353, Proto => \"udp\") or die; while (1) { my $m; $u->recv($m, 512); $u->send($m) }' & wait";

fn rand_suffix() -> String {
    Secret::generate(8).expose().to_lowercase()
}

/// Runs a command in an ordinary container (the control), answering its output.
async fn exec_in_probe(docker: &bollard::Docker, container: &str, cmd: Vec<String>) -> String {
    let exec = docker
        .create_exec(
            container,
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

#[tokio::test(flavor = "multi_thread")]
async fn box_reaches_the_database_socket_and_nothing_else() {
    let root = tempfile::tempdir().unwrap();
    let docker = connect_docker()
        .await
        .expect("Docker must run for this test (see README)");

    // A clone with one known row, and the bridge into a private socket directory.
    let SeededClone {
        engine,
        id,
        info: clone,
    } = seeded_clone(
        root.path(),
        "CREATE TABLE t (id int); INSERT INTO t VALUES (42);",
        "iso",
    )
    .await;
    let sock = root.path().join("sock");
    let migrations = root.path().join("migrations");
    for d in [&sock, &migrations] {
        std::fs::create_dir_all(d).unwrap();
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let bridge = Bridge::start(&sock, Upstream::of(&clone), None).unwrap();

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
                cmd: Some(vec!["bash".into(), "-c".into(), CONTROL_SERVERS.into()]),
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
            runs_root_id: "box-isolation-test".into(),
            name: format!("{id}-box"),
            migrations_dir: migrations.clone(),
            socket_dir: sock.clone(),
            client: None,
        },
    )
    .await
    .unwrap();

    // Assertions run inside catch_unwind, so a failing one still cleans up below.
    let result = std::panic::AssertUnwindSafe(async {
        // The box as Docker sees it: every hardening setting in place.
        let inspected = docker.inspect_container(&sandbox.id, None).await.unwrap();
        let host = inspected.host_config.unwrap();
        assert_eq!(host.network_mode.as_deref(), Some("none"));
        assert_eq!(host.readonly_rootfs, Some(true));
        assert_eq!(host.privileged, Some(false));
        assert_eq!(host.cap_drop, Some(vec!["ALL".to_string()]));
        assert!(host.cap_add.unwrap_or_default().is_empty());
        assert!(host
            .security_opt
            .unwrap_or_default()
            .iter()
            .any(|o| o.starts_with("no-new-privileges")));
        assert!(host.pids_limit.unwrap_or(0) > 0, "a process limit");
        assert!(host.memory.unwrap_or(0) > 0, "a memory limit");
        assert!(host.nano_cpus.unwrap_or(0) > 0, "a CPU limit");
        assert!(host.tmpfs.unwrap_or_default().contains_key("/tmp"));
        let config = inspected.config.unwrap();
        assert_eq!(config.user.as_deref(), Some("10001:10001"), "not root");
        let mounts = inspected.mounts.unwrap_or_default();
        assert!(
            mounts.iter().all(|m| m.rw == Some(false)),
            "every mount read-only: {mounts:?}"
        );
        assert!(
            mounts
                .iter()
                .all(|m| !m.source.clone().unwrap_or_default().contains("docker.sock")),
            "no Docker socket"
        );

        let control_out = exec_in_probe(&docker, &control.id, tcp_probe(&gateway, port)).await;
        assert!(
            control_out.contains("PROBE-CONNECTED"),
            "control could not reach the listener: {control_out}"
        );
        // The probe's connect returned before the listener task counted it: wait for
        // the count (under load that takes a moment), with a deadline.
        let counted_by = std::time::Instant::now() + Duration::from_secs(10);
        while accepted.load(Ordering::SeqCst) == 0 && std::time::Instant::now() < counted_by {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let seen_by_control = accepted.load(Ordering::SeqCst);
        assert!(
            seen_by_control >= 1,
            "the listener never counted the control's connection"
        );

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

        // A listener and a DNS responder in a container on the test's second network.
        let control_ip = docker
            .inspect_container(&control.id, None)
            .await
            .unwrap()
            .network_settings
            .and_then(|n| n.networks)
            .and_then(|n| n.get(&net).and_then(|e| e.ip_address.clone()))
            .expect("the control container has an address on the test network");
        let from_here = async {
            for _ in 0..50 {
                if tokio::net::TcpStream::connect((control_ip.as_str(), 7000))
                    .await
                    .is_ok()
                {
                    return true;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            false
        };
        assert!(
            from_here.await,
            "the container's listener works from outside the box"
        );
        let control_dns = exec_in_probe(
            &docker,
            &control.id,
            dns_probe(&control_ip, 5353, "preflight-egress.test"),
        )
        .await;
        assert!(
            control_dns.contains("DNS-ANSWERED"),
            "the responder answers: {control_dns}"
        );
        let (_, box_tcp) = exec(&sandbox, tcp_probe(&control_ip, 7000), vec![], root.path()).await;
        assert!(
            box_tcp.contains("PROBE-UNREACHABLE"),
            "the box reached the container: {box_tcp}"
        );
        let (_, box_dns) = exec(
            &sandbox,
            dns_probe(&control_ip, 5353, "preflight-egress.test"),
            vec![],
            root.path(),
        )
        .await;
        assert!(
            box_dns.contains("DNS-NO-ANSWER"),
            "a DNS lookup from the box got an answer: {box_dns}"
        );

        // IPv6: a listener on the host's ::1 is not the box's ::1, and the box has none.
        let v6 = tokio::net::TcpListener::bind("[::1]:0").await.unwrap();
        let v6_port = v6.local_addr().unwrap().port();
        let (_, box_v6) = exec(&sandbox, tcp_probe("::1", v6_port), vec![], root.path()).await;
        assert!(box_v6.contains("PROBE-UNREACHABLE"), "{box_v6}");
        let (_, interfaces) = exec(
            &sandbox,
            vec![
                "sh".into(),
                "-c".into(),
                "tail -n +3 /proc/net/dev | cut -d: -f1; echo V6; cat /proc/net/if_inet6".into(),
            ],
            vec![],
            root.path(),
        )
        .await;
        let names: Vec<&str> = interfaces
            .lines()
            .map(str::trim)
            .take_while(|l| *l != "V6")
            .collect();
        assert_eq!(names, vec!["lo"], "the box has only loopback: {interfaces}");
        let v6_addresses: Vec<&str> = interfaces
            .lines()
            .skip_while(|l| l.trim() != "V6")
            .skip(1)
            .filter(|l| !l.trim_end().ends_with(" lo"))
            .collect();
        assert!(
            v6_addresses.is_empty(),
            "no IPv6 address but loopback: {interfaces}"
        );
        drop(v6);

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
    })
    .catch_unwind()
    .await;

    sandbox.remove().await.unwrap();
    remove_container(&docker, &control.id).await.unwrap();
    docker.remove_network(&net).await.unwrap();
    accept_task.abort();
    bridge.stop().await;
    engine.destroy(&id).await.unwrap();
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}
