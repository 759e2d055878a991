//! Contract tests of `preflight engine serve` against shared/reference/dle-api.md: every
//! "needed" endpoint, the status transitions, the error shape and every bad input the
//! issue lists, on the copy backend (which any filesystem has).

mod common;

use common::engine::*;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread")]
async fn clone_lifecycle_speaks_the_database_lab_api() {
    let dir = tempfile::tempdir().unwrap();
    let pool = dir.path().join("pool");
    let engine = EngineProc::start(
        dir.path(),
        &pool,
        "backend: copy\nport_range: [6200, 6299]\n",
    );

    // Liveness and metrics need no token; everything else does.
    assert_eq!(engine.call_as(None, "GET", "/healthz", None).await.0, 200);
    for token in [None, Some("wrong-token")] {
        let (status, body) = engine.call_as(token, "GET", "/status", None).await;
        assert_eq!(status, 401);
        assert_eq!(
            body,
            serde_json::json!({"code": "UNAUTHORIZED", "message": "Check your verification token."})
        );
    }

    let snapshot = engine.wait_for_snapshot().await;
    for field in [
        "id",
        "createdAt",
        "dataStateAt",
        "physicalSize",
        "logicalSize",
        "pool",
        "numClones",
    ] {
        assert!(
            !snapshot[field].is_null(),
            "snapshot lacks {field}: {snapshot}"
        );
    }
    assert!(snapshot["physicalSize"].as_u64().unwrap() > 1_000_000);

    // Bad input: 400 naming the field, in DLE's error shape.
    let cases = [
        ("{not json", "malformed JSON"),
        (
            r#"{"id": "x", "db": {"username": "dev"}}"#,
            "missing field db.password",
        ),
        (r#"{"id": "x"}"#, "missing field db"),
        (
            r#"{"id": "x", "db": {"username": "dev", "password": "hunter2"}}"#,
            "too weak",
        ),
        (
            r#"{"id": "x", "db": {"username": "dev", "password": ""}}"#,
            "db.password is required",
        ),
        (
            &EngineProc::create_body("../escape", "app"),
            "is not allowed",
        ),
        (
            r#"{"id": "x", "snapshot": {"id": "nope"}, "db": {"username": "dev", "password": "Vx8kQ2mZp4Lr7Tn1Wc6Y"}}"#,
            "snapshot \"nope\" does not exist",
        ),
    ];
    for (body, expected) in cases {
        let (status, rsp) = engine.call("POST", "/clone", Some(body)).await;
        assert_eq!(status, 400, "{body}: {rsp}");
        assert_eq!(rsp["code"], "BAD_REQUEST");
        assert!(
            rsp["message"].as_str().unwrap().contains(expected),
            "{body}: {rsp}"
        );
        assert!(
            rsp.get("hint").is_some() && rsp.get("detail").is_some(),
            "{rsp}"
        );
    }

    // Create: 201 at once in CREATING, no address yet, password never echoed.
    let created = engine.create("mr-1-main").await;
    assert_eq!(created["status"]["code"], "CREATING", "{created}");
    assert_eq!(created["db"]["host"], "");
    assert_eq!(created["db"]["port"], "");
    assert_eq!(created["db"]["password"], "");
    let clone = engine.wait_settled("mr-1-main").await;
    assert_eq!(clone["status"]["code"], "OK", "{clone}");
    assert!(
        clone["db"]["port"]
            .as_str()
            .unwrap()
            .parse::<u16>()
            .unwrap()
            >= 6200
    );
    assert!(clone["metadata"]["cloningTime"].as_f64().unwrap() > 0.0);
    assert_eq!(clone["snapshot"]["id"], snapshot["id"]);

    // The requester is a restricted owner: owns the data, is no superuser.
    let db = connect_clone(&clone).await;
    let row = db
        .query_one(
            "SELECT (SELECT count(*) FROM items), \
                    (SELECT rolsuper FROM pg_roles WHERE rolname = current_user), \
                    (SELECT tableowner FROM pg_tables WHERE tablename = 'items')",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, i64>(0), 1000);
    assert!(!row.get::<_, bool>(1), "restricted means not a superuser");
    assert_eq!(row.get::<_, String>(2), "dev");
    let refused = db
        .batch_execute("COPY items TO PROGRAM 'id'")
        .await
        .unwrap_err();
    assert!(refused.to_string().contains("db error"), "{refused}");
    db.batch_execute("DELETE FROM items WHERE id <= 10")
        .await
        .unwrap();
    drop(db);

    // An id in use is an error, not a second clone.
    let (status, rsp) = engine
        .call(
            "POST",
            "/clone",
            Some(&EngineProc::create_body("mr-1-main", "app")),
        )
        .await;
    assert_eq!(status, 400, "{rsp}");
    assert!(rsp["message"].as_str().unwrap().contains("already in use"));
    let (_, status_body) = engine.call("GET", "/status", None).await;
    assert_eq!(status_body["cloning"]["numClones"], 1);
    assert_eq!(status_body["pools"][0]["mode"], "copy");
    assert!(
        status_body["pools"][0]["fileSystem"]["free"]
            .as_u64()
            .unwrap()
            > 0
    );

    // Unknown clones: 404 in the error shape.
    for (method, path) in [
        ("GET", "/clone/nope"),
        ("DELETE", "/clone/nope"),
        ("POST", "/clone/nope/reset"),
    ] {
        let (status, rsp) = engine.call(method, path, None).await;
        assert_eq!(status, 404, "{method} {path}");
        assert_eq!(rsp["code"], "NOT_FOUND");
    }

    // Reset: both targets at once is 400; a reset brings the snapshot's data back.
    let (status, _) = engine
        .call(
            "POST",
            "/clone/mr-1-main/reset",
            Some(r#"{"snapshotID": "x", "latest": true}"#),
        )
        .await;
    assert_eq!(status, 400);
    let (status, rsp) = engine
        .call(
            "POST",
            "/clone/mr-1-main/reset",
            Some(r#"{"latest": true}"#),
        )
        .await;
    assert_eq!(status, 200, "{rsp}");
    assert_eq!(rsp["status"]["code"], "RESETTING");
    let clone = engine.wait_settled("mr-1-main").await;
    assert_eq!(clone["status"]["code"], "OK", "{clone}");
    let db = connect_clone(&clone).await;
    let n: i64 = db
        .query_one("SELECT count(*) FROM items", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 1000, "the reset clone has the snapshot's rows again");
    drop(db);

    // Protected clones are refused deletion until unprotected.
    let (status, _) = engine
        .call("PATCH", "/clone/mr-1-main", Some(r#"{"protected": true}"#))
        .await;
    assert_eq!(status, 200);
    let (status, rsp) = engine.call("DELETE", "/clone/mr-1-main", None).await;
    assert_eq!(status, 400);
    assert!(rsp["message"].as_str().unwrap().contains("protected"));
    engine
        .call("PATCH", "/clone/mr-1-main", Some(r#"{"protected": false}"#))
        .await;
    let (status, rsp) = engine.call("DELETE", "/clone/mr-1-main", None).await;
    assert_eq!(status, 200);
    assert_eq!(rsp["status"]["code"], "DELETING");
    engine.wait_gone("mr-1-main").await;

    // A clone that fails to start is FATAL with the reason, and its storage is gone.
    engine
        .call(
            "POST",
            "/clone",
            Some(&EngineProc::create_body("bad-db", "no_such_db")),
        )
        .await;
    let fatal = engine.wait_settled("bad-db").await;
    assert_eq!(fatal["status"]["code"], "FATAL", "{fatal}");
    assert!(
        fatal["status"]["message"]
            .as_str()
            .unwrap()
            .contains("no_such_db"),
        "{fatal}"
    );
    assert!(
        !pool.join("clones/bad-db").exists(),
        "a FATAL clone's storage is cleaned"
    );
    engine.call("DELETE", "/clone/bad-db", None).await;
    engine.wait_gone("bad-db").await;

    let (_, metrics) = {
        let rsp = reqwest::get(format!("{}/metrics", engine.url))
            .await
            .unwrap();
        (rsp.status(), rsp.text().await.unwrap())
    };
    assert!(
        metrics.contains("preflight_engine_clone_ready_seconds_count 2"),
        "{metrics}"
    );
    assert!(
        metrics.contains("preflight_engine_pool_free_bytes"),
        "{metrics}"
    );
    assert!(
        metrics.contains("preflight_engine_clones{status=\"OK\"} 0"),
        "{metrics}"
    );

    assert!(std::fs::read_dir(pool.join("clones"))
        .unwrap()
        .next()
        .is_none());
    assert_eq!(servers_under(&pool), "", "no clone server left");
}

#[tokio::test(flavor = "multi_thread")]
async fn out_of_clones_ports_or_disk_answers_503_with_the_numbers() {
    let dir = tempfile::tempdir().unwrap();
    // A port this test holds, so the one-port range has nothing free.
    let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = held.local_addr().unwrap().port();
    let limits = [
        (
            "clones",
            "backend: copy\nmax_clones: 1\nport_range: [6300, 6309]\n".to_string(),
            "clone limit reached: 1 of 1",
        ),
        (
            "ports",
            format!("backend: copy\nport_range: [{port}, {port}]\n"),
            "no free port",
        ),
        (
            "disk",
            "backend: copy\nport_range: [6310, 6319]\n".to_string(),
            "below the floor of 1000000000000000 bytes",
        ),
    ];
    for (name, extra, expected) in limits {
        let sub = dir.path().join(name);
        std::fs::create_dir_all(&sub).unwrap();
        let pool = sub.join("pool");
        let config = engine_config(&sub, &pool, &extra);
        if name == "disk" {
            let text = std::fs::read_to_string(&config).unwrap();
            std::fs::write(
                &config,
                text.replace(
                    "free_space_floor_bytes: 0",
                    "free_space_floor_bytes: 1000000000000000",
                ),
            )
            .unwrap();
        }
        let engine = EngineProc::start_with(config, &pool);
        engine.wait_for_snapshot().await;
        if name == "clones" {
            engine.create("first").await;
            assert_eq!(engine.wait_settled("first").await["status"]["code"], "OK");
        }
        let (status, rsp) = engine
            .call(
                "POST",
                "/clone",
                Some(&EngineProc::create_body("one-too-many", "app")),
            )
            .await;
        assert_eq!(status, 503, "{name}: {rsp}");
        let message = rsp["message"].as_str().unwrap();
        assert!(message.contains(expected), "{name}: {message}");
        assert_eq!(engine.call("GET", "/clone/one-too-many", None).await.0, 404);
    }
    drop(held);
}

#[tokio::test(flavor = "multi_thread")]
async fn idle_clones_expire() {
    let dir = tempfile::tempdir().unwrap();
    let pool = dir.path().join("pool");
    let engine = EngineProc::ready(
        dir.path(),
        &pool,
        "backend: copy\nport_range: [6320, 6329]\nmax_idle: 1s\nexpiry_check_every: 200ms\n",
    )
    .await;
    engine.create("idle").await;
    let clone = engine.wait_settled("idle").await;
    assert_eq!(clone["status"]["code"], "OK");
    // A session keeps it alive past max_idle ...
    let db = connect_clone(&clone).await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(
        engine.call("GET", "/clone/idle", None).await.0,
        200,
        "busy clones stay"
    );
    // ... and without one it goes.
    drop(db);
    engine.wait_gone("idle").await;
    assert!(engine.log_text().contains("idle longer than max_idle"));
    assert_eq!(servers_under(&pool), "");
}
