//! A clone whose role is a superuser (production migrates as one, so the rehearsal may
//! have to) can run programs on its server with `COPY ... FROM PROGRAM`. The built-in
//! engine confines every clone server the way Database Lab Engine puts each clone in a
//! container: a user of its own, a network namespace with nothing but its own loopback,
//! and an environment with no secret. This test is that superuser, and shows what its
//! programs cannot reach: the network (a listener this test brought up on the host's
//! loopback hears nothing), another clone's data, the engine's state and log, and the
//! engine's environment with its token. Clients still reach the clone on its port,
//! through a relay that ends with the clone.

mod common;

use common::engine::*;
use serde_json::json;
use std::time::Duration;

/// The output lines of `program` run on the clone's server by its superuser.
async fn run_on_server(db: &tokio_postgres::Client, program: &str) -> String {
    db.batch_execute("CREATE TEMP TABLE IF NOT EXISTS said (line text); TRUNCATE said")
        .await
        .unwrap();
    // The program always ends well, so COPY keeps what it printed, errors included.
    let wrapped = format!("{{ {program} ; }} 2>&1; echo exit=$?");
    let copy = format!("COPY said FROM PROGRAM '{}'", wrapped.replace('\'', "''"));
    db.batch_execute(&copy).await.unwrap();
    db.query("SELECT line FROM said", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get::<_, Option<String>>(0).unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_superuser_clone_runs_programs_that_reach_nothing_outside_it() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("SKIPPED: confining clone servers needs root, and this test runs as a user");
        return;
    }
    let (_root, engine) = EngineProc::ready_on_copy((6940, 6959)).await;
    let pool = engine.pool.clone();
    let superuser = json!({"id": "prod-like", "protected": false,
        "db": {"username": "dev", "password": PASSWORD, "restricted": false, "db_name": "app"}});
    let (status, body) = engine
        .call("POST", "/clone", Some(&superuser.to_string()))
        .await;
    assert_eq!(status, 201, "{body}");
    let clone = engine.wait_settled("prod-like").await;
    assert_eq!(clone["status"]["code"], "OK", "{clone}");
    engine.create("neighbour").await;
    let neighbour = engine.wait_settled("neighbour").await;
    assert_eq!(neighbour["status"]["code"], "OK", "{neighbour}");

    // The requester reaches the clone on its port, as any Database Lab client does.
    let db = connect_clone(&clone).await;
    let is_superuser: String = db
        .query_one("SELECT current_setting('is_superuser')", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(is_superuser, "on");
    let port: u32 = clone["db"]["port"].as_str().unwrap().parse().unwrap();

    // Its own user: neither root nor the user other clones or snapshots belong to.
    let id = run_on_server(&db, "id -u; id -G").await;
    assert_eq!(
        id,
        format!("{}\n{}\nexit=0", 1_500_000 + port, 1_500_000 + port),
        "the server's user and groups"
    );

    // No network: only a loopback of its own, and nothing this test listens on arrives.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let test_port = listener.local_addr().unwrap().port();
    let interfaces = run_on_server(&db, "cat /proc/net/dev").await;
    let names: Vec<&str> = interfaces
        .lines()
        .filter_map(|l| l.split_once(':').map(|(name, _)| name.trim()))
        .filter(|name| !name.contains('|'))
        .collect();
    assert_eq!(names, ["lo"], "{interfaces}");
    let dialed = run_on_server(
        &db,
        &format!("bash -c \"echo hello > /dev/tcp/127.0.0.1/{test_port}\""),
    )
    .await;
    assert!(dialed.contains("Connection refused"), "{dialed}");
    assert!(!dialed.ends_with("exit=0"), "{dialed}");
    let arrived = tokio::time::timeout(Duration::from_millis(300), listener.accept()).await;
    assert!(arrived.is_err(), "a connection left the clone server");

    // No other clone's data, no engine state or log, no engine environment.
    let neighbour_data = pool.join("clones/neighbour/data");
    let engine_pid = engine.child.as_ref().unwrap().id();
    for (what, program) in [
        (
            "another clone's data",
            format!("cat {}/PG_VERSION", neighbour_data.display()),
        ),
        (
            "another clone's log",
            format!("cat {}", pool.join("clones/neighbour/server.log").display()),
        ),
        (
            "the list of clones",
            format!("ls {}", pool.join("clones").display()),
        ),
        (
            "the engine's state",
            format!("cat {}", pool.join("state.json").display()),
        ),
        (
            "the engine's environment",
            format!("cat /proc/{engine_pid}/environ"),
        ),
    ] {
        let said = run_on_server(&db, &program).await;
        assert!(
            said.contains("Permission denied") && !said.ends_with("exit=0"),
            "{what} was readable: {said}"
        );
        assert!(!said.contains(TOKEN), "{what}: {said}");
    }
    let own_environment = run_on_server(&db, "cat /proc/self/environ | tr '\\0' '\\n'").await;
    assert!(!own_environment.contains(TOKEN), "{own_environment}");
    assert!(!own_environment.contains("PREFLIGHT"), "{own_environment}");

    // The neighbour still answers its own requester.
    let other = connect_clone(&neighbour).await;
    let count: i64 = other
        .query_one("SELECT count(*) FROM items", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(count, 1000);

    for id in ["prod-like", "neighbour"] {
        let (status, _) = engine.call("DELETE", &format!("/clone/{id}"), None).await;
        assert_eq!(status, 200);
        engine.wait_gone(id).await;
    }
    assert_eq!(
        servers_under(&pool),
        "",
        "a clone server outlived its clone"
    );
    let relays = std::process::Command::new("pgrep")
        .args([
            "-a",
            "-f",
            &format!("engine relay --listen 127.0.0.1:{port} "),
        ])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&relays.stdout),
        "",
        "a clone's relay outlived it"
    );
}

/// A superuser migration that daemonizes (`COPY ... TO PROGRAM 'setsid -f ...'`) leaves a
/// process of the clone's user; clone users are `clone_uid_base + port` and ports are
/// reused, so it would own the next clone on that port. It ends with its clone.
#[tokio::test(flavor = "multi_thread")]
async fn nothing_a_superuser_clone_starts_outlives_it() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("SKIPPED: confining clone servers needs root, and this test runs as a user");
        return;
    }
    let (_root, engine) = EngineProc::ready_on_copy((7120, 7139)).await;
    let superuser = json!({"id": "daemonizer", "protected": false,
        "db": {"username": "dev", "password": PASSWORD, "restricted": false, "db_name": "app"}});
    let (status, body) = engine
        .call("POST", "/clone", Some(&superuser.to_string()))
        .await;
    assert_eq!(status, 201, "{body}");
    let clone = engine.wait_settled("daemonizer").await;
    assert_eq!(clone["status"]["code"], "OK", "{clone}");
    let port: u32 = clone["db"]["port"].as_str().unwrap().parse().unwrap();
    let uid = 1_500_000 + port;
    let db = connect_clone(&clone).await;
    let said = run_on_server(
        &db,
        "setsid -f sleep 3131 </dev/null >/dev/null 2>&1; echo started",
    )
    .await;
    assert!(said.contains("started"), "{said}");
    let lingering = |uid| {
        preflight::engine::processes::processes_of(uid)
            .into_iter()
            .filter(|pid| {
                std::fs::read_to_string(format!("/proc/{pid}/cmdline"))
                    .is_ok_and(|c| c.contains("3131"))
            })
            .count()
    };
    assert_eq!(lingering(uid), 1, "the daemon runs as the clone's user");
    drop(db);

    let (status, _) = engine.call("DELETE", "/clone/daemonizer", None).await;
    assert_eq!(status, 200);
    engine.wait_gone("daemonizer").await;
    assert_eq!(
        preflight::engine::processes::processes_of(uid),
        Vec::<i32>::new(),
        "a process of the clone's user outlived its clone"
    );
}
