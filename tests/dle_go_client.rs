//! `preflight engine serve` driven the way Database Lab's own Go client drives a DLE
//! (`engine/pkg/client/dblabapi`, v3.5 to v4.2): request bodies byte for byte as Go's
//! `json.NewEncoder(...).Encode` writes them (Go struct field order, every zero value,
//! a final newline, no Content-Type), and answers read by that client's rules: a status
//! below 400 is success, an error needs a JSON `{code, message}` or the client reports
//! "failed to parse an error message", and a destroy succeeds only when the clone's GET
//! answers `404` with code `NOT_FOUND`. Covers every `dblab clone` and `dblab instance`
//! command and the whole sequence of DLE's CI migration checker (`runci`).

mod common;

use common::engine::*;
use serde_json::Value;
use std::time::{Duration, Instant};

/// DLE's Go client, as far as the wire goes.
struct GoClient<'a> {
    engine: &'a EngineProc,
    http: reqwest::Client,
}

/// What `Client.Do` makes of an answer.
#[derive(Debug)]
enum Answer {
    Ok(u16, Value),
    /// `models.Error`: the code and message of an error answer.
    Error(u16, String, String),
}

impl Answer {
    fn ok(self) -> Value {
        match self {
            Answer::Ok(_, v) => v,
            Answer::Error(s, c, m) => panic!("expected success, got {s} {c}: {m}"),
        }
    }

    fn error(self) -> (u16, String, String) {
        match self {
            Answer::Error(s, c, m) => (s, c, m),
            Answer::Ok(s, v) => panic!("expected an error, got {s}: {v}"),
        }
    }
}

impl<'a> GoClient<'a> {
    fn new(engine: &'a EngineProc) -> Self {
        GoClient {
            engine,
            http: reqwest::Client::new(),
        }
    }

    /// `http.NewRequest` with a `bytes.Buffer` body: Content-Length, no Content-Type.
    async fn send(&self, method: &str, path: &str, body: Option<String>) -> Answer {
        let mut req = self
            .http
            .request(
                method.parse().unwrap(),
                format!("{}{path}", self.engine.url),
            )
            .header("Verification-Token", TOKEN);
        if let Some(b) = body {
            req = req.body(b);
        }
        let rsp = req.send().await.unwrap();
        let status = rsp.status().as_u16();
        let text = rsp.text().await.unwrap();
        if status >= 400 {
            let err: Value = serde_json::from_str(&text).unwrap_or_else(|e| {
                panic!("failed to parse an error message: {text:?}, {e} ({method} {path})")
            });
            let field = |k: &str| err[k].as_str().unwrap_or_default().to_string();
            assert!(!field("code").is_empty(), "error without code: {text}");
            assert!(
                !field("message").is_empty(),
                "error without message: {text}"
            );
            return Answer::Error(status, field("code"), field("message"));
        }
        Answer::Ok(status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// `watchCloneStatus`: polls while the status is `initial`.
    async fn watch(&self, id: &str, initial: &str) -> Answer {
        let started = Instant::now();
        loop {
            let answer = self.send("GET", &format!("/clone/{id}"), None).await;
            match &answer {
                Answer::Ok(_, c) if c["status"]["code"] == initial => {}
                _ => return answer,
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "{id} still {initial}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// `CreateClone`: POST, then watch `CREATING`; success only on `OK`.
    async fn create_clone(&self, body: String) -> Value {
        let created = self.send("POST", "/clone", Some(body)).await.ok();
        assert_eq!(created["status"]["code"], "CREATING", "{created}");
        let id = created["id"].as_str().unwrap().to_string();
        let clone = self.watch(&id, "CREATING").await.ok();
        assert_eq!(clone["status"]["code"], "OK", "{clone}");
        clone
    }

    /// `ResetClone`: POST, then watch `RESETTING`; success only on `OK`.
    async fn reset_clone(&self, id: &str, body: String) -> Value {
        self.send("POST", &format!("/clone/{id}/reset"), Some(body))
            .await
            .ok();
        let clone = self.watch(id, "RESETTING").await.ok();
        assert_eq!(clone["status"]["code"], "OK", "{clone}");
        clone
    }

    /// `DestroyClone`: DELETE, then watch `DELETING`; success only on a 404 NOT_FOUND.
    async fn destroy_clone(&self, id: &str) {
        self.send("DELETE", &format!("/clone/{id}"), None)
            .await
            .ok();
        let (status, code, _) = self.watch(id, "DELETING").await.error();
        assert_eq!((status, code.as_str()), (404, "NOT_FOUND"));
    }
}

/// `types.CloneCreateRequest` as Go encodes it.
fn create_request(id: &str, user: &str, db_name: &str, snapshot: &str, extra: &str) -> String {
    format!(
        "{{\"id\":\"{id}\",\"protected\":false,\"db\":{{\"username\":\"{user}\",\"password\":\"{PASSWORD}\",\"restricted\":true,\"db_name\":\"{db_name}\"}},\"snapshot\":{snapshot},\"extra_conf\":{extra},\"branch\":\"\"}}\n"
    )
}

async fn connect_as(clone: &Value, user: &str) -> tokio_postgres::Client {
    let mut config = tokio_postgres::Config::new();
    config
        .host(clone["db"]["host"].as_str().unwrap())
        .port(clone["db"]["port"].as_str().unwrap().parse().unwrap())
        .user(user)
        .password(PASSWORD)
        .dbname(clone["db"]["dbName"].as_str().unwrap());
    let (client, conn) = config.connect(tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(conn);
    client
}

#[tokio::test(flavor = "multi_thread")]
async fn every_dblab_clone_and_instance_command_works_unchanged() {
    let (_dir, engine) = EngineProc::ready_on_copy((6960, 6979)).await;
    let go = GoClient::new(&engine);
    let snapshot = engine.wait_for_snapshot().await;
    let snapshot_id = snapshot["id"].as_str().unwrap();

    // dblab clone create, no --id, no --snapshot-id: an id is generated, the newest
    // snapshot and the default database are used.
    let body = create_request("", "dev", "", "null", "{}");
    let clone = go.create_clone(body).await;
    let id = clone["id"].as_str().unwrap().to_string();
    assert!(!id.is_empty());
    assert_eq!(clone["snapshot"]["id"], snapshot_id);
    assert_eq!(clone["db"]["dbName"], "app");
    assert_eq!(clone["db"]["password"], "");
    let db = connect_as(&clone, "dev").await;
    let n: i64 = db
        .query_one("SELECT count(*) FROM items", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 1000);

    // --snapshot-id "" and extra_conf with a safe setting, a username with a hyphen.
    let body = create_request(
        "tuned",
        "ci_alice-smith",
        "app",
        "{\"id\":\"\"}",
        "{\"statement_timeout\":\"4s\",\"work_mem\":\"8MB\"}",
    );
    let tuned = go.create_clone(body).await;
    assert!(
        tuned["db"]["connStr"]
            .as_str()
            .unwrap()
            .contains("user=ci_alice-smith"),
        "{tuned}"
    );
    let db = connect_as(&tuned, "ci_alice-smith").await;
    for (setting, want) in [("statement_timeout", "4s"), ("work_mem", "8MB")] {
        let got: String = db
            .query_one(&format!("SHOW {setting}"), &[])
            .await
            .unwrap()
            .get(0);
        assert_eq!(got, want, "{setting}");
    }
    // The role owns the data, whatever characters its name has.
    db.batch_execute("ALTER TABLE items ADD COLUMN note text")
        .await
        .unwrap();
    drop(db);

    // Unsafe extra_conf: a 400 naming the key, and no clone.
    let body = create_request("bad", "dev", "", "null", "{\"archive_command\":\"x\"}");
    let (status, code, message) = go.send("POST", "/clone", Some(body)).await.error();
    assert_eq!((status, code.as_str()), (400, "BAD_REQUEST"));
    assert!(message.contains("archive_command"), "{message}");

    // dblab clone list and dblab clone status.
    let instance = go.send("GET", "/status", None).await.ok();
    let listed: Vec<&str> = instance["cloning"]["clones"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert!(listed.contains(&id.as_str()) && listed.contains(&"tuned"));
    assert!(!listed.contains(&"bad"));
    let one = go.send("GET", "/clone/tuned", None).await.ok();
    assert_eq!(one["db"]["username"], "ci_alice-smith");

    // dblab clone update --protected 30m: protection with a lease; a delete is refused.
    let patched = go
        .send(
            "PATCH",
            "/clone/tuned",
            Some("{\"protected\":true,\"protectionDurationMinutes\":30}\n".into()),
        )
        .await
        .ok();
    assert_eq!(patched["protected"], true);
    let till =
        chrono::DateTime::parse_from_rfc3339(patched["protectedTill"].as_str().unwrap()).unwrap();
    let minutes = (till.with_timezone(&chrono::Utc) - chrono::Utc::now()).num_minutes();
    assert!((28..=30).contains(&minutes), "{patched}");
    let (status, code, _) = go.send("DELETE", "/clone/tuned", None).await.error();
    assert_eq!((status, code.as_str()), (400, "BAD_REQUEST"));
    // --protected without a duration takes the engine's lease (DLE's default: a day).
    let patched = go
        .send(
            "PATCH",
            "/clone/tuned",
            Some("{\"protected\":true}\n".into()),
        )
        .await
        .ok();
    let till =
        chrono::DateTime::parse_from_rfc3339(patched["protectedTill"].as_str().unwrap()).unwrap();
    assert!((till.with_timezone(&chrono::Utc) - chrono::Utc::now()).num_minutes() >= 1430);
    let patched = go
        .send(
            "PATCH",
            "/clone/tuned",
            Some("{\"protected\":false}\n".into()),
        )
        .await
        .ok();
    assert_eq!(patched["protected"], false);
    assert!(patched.get("protectedTill").is_none(), "{patched}");

    // dblab clone reset, with and without --latest: both zero snapshotIDs.
    let reset = go
        .reset_clone("tuned", "{\"snapshotID\":\"\",\"latest\":false}\n".into())
        .await;
    assert_eq!(reset["snapshot"]["id"], snapshot_id);
    let db = connect_as(&reset, "ci_alice-smith").await;
    let note = db
        .query("SELECT note FROM items LIMIT 1", &[])
        .await
        .unwrap_err();
    assert_eq!(
        note.code().unwrap().code(),
        "42703",
        "the reset undid the change"
    );
    drop(db);
    go.reset_clone("tuned", "{\"snapshotID\":\"\",\"latest\":true}\n".into())
        .await;
    let (status, _, message) = go
        .send(
            "POST",
            "/clone/tuned/reset",
            Some("{\"snapshotID\":\"nope\",\"latest\":false}\n".into()),
        )
        .await
        .error();
    assert_eq!(status, 400);
    assert!(message.contains("nope"), "{message}");

    // dblab snapshot list and dblab instance status / health.
    let snapshots = go.send("GET", "/snapshots", None).await.ok();
    assert_eq!(snapshots[0]["id"], snapshot_id);
    assert_eq!(snapshots[0]["numClones"], 2);
    let health = go.send("GET", "/healthz", None).await.ok();
    let instance_id = health["instanceID"].as_str().unwrap();
    assert!(!instance_id.is_empty());
    assert_eq!(instance["engine"]["instanceID"], instance_id);
    assert_eq!(instance["status"]["code"], "OK");
    assert_eq!(instance["cloning"]["protectionLeaseDurationMinutes"], 1440);
    assert!(instance["provisioner"]["containerConfig"]["pgBinDir"].is_string());
    assert_eq!(
        instance["synchronization"]["status"]["code"],
        "Not available"
    );
    assert_eq!(instance["pools"][0]["status"], "active");
    let retrieval = go.send("GET", "/instance/retrieval", None).await.ok();
    assert_eq!(retrieval["mode"], "logical");
    assert_eq!(retrieval["status"], "finished");

    // Routes DLE does not have here, and methods a route does not take: JSON errors.
    let (status, code, _) = go.send("GET", "/no/such/route", None).await.error();
    assert_eq!((status, code.as_str()), (404, "NOT_FOUND"));
    let (status, _, message) = go.send("PUT", "/clone", Some("{}\n".into())).await.error();
    assert_eq!(status, 405);
    assert!(message.contains("PUT"), "{message}");
    let (status, code, _) = go.send("GET", "/clone/nope", None).await.error();
    assert_eq!((status, code.as_str()), (404, "NOT_FOUND"));

    // dblab clone destroy, both clones.
    go.destroy_clone(&id).await;
    go.destroy_clone("tuned").await;

    // dblab instance full-refresh: POST /full-refresh with no body.
    let refresh = go.send("POST", "/full-refresh", None).await.ok();
    assert_eq!(refresh["status"], "OK");
    assert_eq!(refresh["message"], "Full refresh started");
}

#[tokio::test(flavor = "multi_thread")]
async fn dles_ci_checker_runs_its_whole_sequence() {
    let (_dir, engine) = EngineProc::ready_on_copy((6980, 6999)).await;
    let go = GoClient::new(&engine);
    engine.wait_for_snapshot().await;

    // runci/clone.go: no id, user ci_<login>, a generated password, restricted.
    let clone = go
        .create_clone(create_request("", "ci_alice-smith", "", "null", "null"))
        .await;
    let id = clone["id"].as_str().unwrap().to_string();
    let health = go.send("GET", "/healthz", None).await.ok();
    assert!(health["version"].is_string());

    // A migration whose ACCESS EXCLUSIVE lock outlasts max_lock_duration.
    let start = |tags: &str| {
        format!(
            "{{\"clone_id\":\"{id}\",\"config\":{{\"observation_interval\":1,\"max_lock_duration\":1,\"max_duration\":600}},\"tags\":{tags},\"db_name\":\"\"}}\n"
        )
    };
    let session = go
        .send(
            "POST",
            "/observation/start",
            Some(start(
                "{\"branch\":\"feature\",\"launched_by\":\"alice-smith\"}",
            )),
        )
        .await
        .ok();
    let session_id = session["session_id"].as_u64().unwrap();
    assert_eq!(session["tags"]["launched_by"], "alice-smith");
    assert_eq!(session["config"]["max_lock_duration"], 1);
    let (status, _, message) = go
        .send("POST", "/observation/start", Some(start("null")))
        .await
        .error();
    assert_eq!(status, 400, "one session per clone: {message}");

    let migration = connect_as(&clone, "ci_alice-smith").await;
    let watcher = connect_as(&clone, "ci_alice-smith").await;
    let pid: i32 = migration
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .unwrap()
        .get(0);
    migration
        .batch_execute("BEGIN; LOCK TABLE items IN ACCESS EXCLUSIVE MODE;")
        .await
        .unwrap();
    let running = tokio::spawn(async move {
        let _ = migration.batch_execute("SELECT pg_sleep(60)").await;
        migration
    });
    // Until the locking statement has run longer than max_lock_duration.
    let started = Instant::now();
    loop {
        let long: bool = watcher
            .query_one(
                "SELECT coalesce(clock_timestamp() - query_start > interval '1.5 s', false) \
                 FROM pg_stat_activity WHERE pid = $1",
                &[&pid],
            )
            .await
            .unwrap()
            .get(0);
        if long {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(30));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let stop = format!("{{\"clone_id\":\"{id}\",\"overall_error\":false}}\n");
    let stopped = go
        .send("POST", "/observation/stop", Some(stop.clone()))
        .await
        .ok();
    watcher
        .query_one("SELECT pg_cancel_backend($1)", &[&pid])
        .await
        .unwrap();
    running.await.unwrap();
    let result = &stopped["result"];
    assert_eq!(result["status"], "failed", "{stopped}");
    assert_eq!(
        result["summary"]["checklist"]["no_long_dangerous_locks"],
        false
    );
    assert_eq!(result["summary"]["checklist"]["overall_success"], true);
    assert!(result["summary"]["warning_intervals"].as_u64().unwrap() >= 1);
    let warning = result["intervals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["warning"].as_str().unwrap())
        .find(|w| !w.is_empty())
        .unwrap();
    assert!(
        warning.contains("AccessExclusiveLock") && warning.contains("items"),
        "{warning}"
    );
    assert!(stopped["finished_at"].is_string());

    // Its summary and an artifact, as `dblab clone observe-summary` and the download.
    let summary = go
        .send(
            "GET",
            &format!("/observation/summary/{id}/{session_id}"),
            None,
        )
        .await
        .ok();
    assert_eq!(summary["clone_id"], id.as_str());
    assert_eq!(
        summary["locks"]["warning_interval"],
        result["summary"]["warning_intervals"]
    );
    assert!(
        summary["db_size"]["objects_stat"]["count"]
            .as_i64()
            .unwrap()
            >= 1
    );
    let tables = go
        .send(
            "GET",
            &format!(
                "/observation/download?artifact_type=pg_stat_user_tables&clone_id={id}&session_id={session_id}"
            ),
            None,
        )
        .await
        .ok();
    assert!(tables
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t["relname"] == "items"));
    let (status, _, message) = go
        .send(
            "GET",
            &format!(
                "/observation/download?artifact_type=../x&clone_id={id}&session_id={session_id}"
            ),
            None,
        )
        .await
        .error();
    assert_eq!(status, 400, "{message}");

    // The safe variant: a quick change passes.
    let second = go
        .send("POST", "/observation/start", Some(start("null")))
        .await
        .ok();
    let migration = connect_as(&clone, "ci_alice-smith").await;
    migration
        .batch_execute("ALTER TABLE items ADD COLUMN note text")
        .await
        .unwrap();
    let stopped = go.send("POST", "/observation/stop", Some(stop)).await.ok();
    assert_eq!(stopped["session_id"], second["session_id"]);
    assert_eq!(stopped["result"]["status"], "passed", "{stopped}");
    assert_eq!(stopped["result"]["summary"]["warning_intervals"], 0);

    // The checker then destroys its clone; its sessions go with it.
    go.destroy_clone(&id).await;
    let (status, code, _) = go
        .send(
            "GET",
            &format!("/observation/summary/{id}/{session_id}"),
            None,
        )
        .await
        .error();
    assert_eq!((status, code.as_str()), (404, "NOT_FOUND"));
}

/// `dblab branch`, `dblab clone create --branch`, `dblab commit`, `dblab log`,
/// `dblab snapshot create/delete`, `dblab branch --delete`, on btrfs (a loop device this
/// test makes); where btrfs is unavailable, the refusal on the copy backend instead.
#[tokio::test(flavor = "multi_thread")]
async fn branches_and_snapshots_of_clones() {
    let dir = tempfile::tempdir().unwrap();
    let (_loop_fs, pool, backend) = btrfs_or_copy(
        dir.path(),
        1 << 30,
        "testing that the copy backend refuses snapshots of clones",
    );
    let engine = EngineProc::ready(
        dir.path(),
        &pool,
        &format!("backend: {backend}\nport_range: [6840, 6859]\nexpiry_check_every: 200ms\n"),
    )
    .await;
    let go = GoClient::new(&engine);
    let main_head = engine.wait_for_snapshot().await["id"]
        .as_str()
        .unwrap()
        .to_string();

    // dblab branch feature: its head is main's.
    let created = go
        .send(
            "POST",
            "/branch",
            Some("{\"branchName\":\"feature\",\"baseBranch\":\"\",\"snapshotID\":\"\"}\n".into()),
        )
        .await
        .ok();
    assert_eq!(created["name"], "feature");
    let (status, _, _) = go
        .send(
            "POST",
            "/branch",
            Some("{\"branchName\":\"feature\",\"baseBranch\":\"\",\"snapshotID\":\"\"}\n".into()),
        )
        .await
        .error();
    assert_eq!(status, 400, "a branch name is used once");

    // dblab clone create --branch feature, then a change on it.
    let body = create_request("work", "dev", "", "null", "{}")
        .replace("\"branch\":\"\"", "\"branch\":\"feature\"");
    let work = go.create_clone(body).await;
    assert_eq!(work["branch"], "feature");
    assert_eq!(work["snapshot"]["id"], main_head.as_str());
    connect_as(&work, "dev")
        .await
        .batch_execute("INSERT INTO items VALUES (5001, 'on feature')")
        .await
        .unwrap();

    // dblab commit --clone-id work -m "...".
    let commit = go
        .send(
            "POST",
            "/branch/snapshot",
            Some("{\"cloneID\":\"work\",\"message\":\"add item 5001\"}\n".into()),
        )
        .await;
    if backend == "copy" {
        let (status, _, message) = commit.error();
        assert_eq!(status, 400);
        assert!(message.contains("btrfs"), "{message}");
        return;
    }
    let head = commit.ok()["snapshotID"].as_str().unwrap().to_string();
    assert_ne!(head, main_head);
    let ino = std::os::unix::fs::MetadataExt::ino(
        &std::fs::metadata(pool.join("snapshots").join(&head)).unwrap(),
    );
    assert_eq!(ino, 256, "a snapshot of a clone is a subvolume");

    // dblab branch (list) and dblab log feature.
    let branches = go.send("GET", "/branches", None).await.ok();
    let feature = branches
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["name"] == "feature")
        .unwrap();
    assert_eq!(feature["snapshotID"], head.as_str());
    assert_eq!(feature["parent"], "main");
    let log = go.send("GET", "/branch/feature/log", None).await.ok();
    let ids: Vec<&str> = log
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [head.as_str(), main_head.as_str()]);
    assert_eq!(log[0]["message"], "add item 5001");
    let commit = go
        .send("GET", &format!("/branch/snapshot/{head}"), None)
        .await
        .ok();
    assert_eq!(commit["parent"], main_head.as_str());
    assert_eq!(commit["clones"], serde_json::json!([]));

    // A clone from the branch's head sees the change, under another role name; a clone
    // of main does not.
    let body = create_request("next", "ci_bob", "", "null", "null")
        .replace("\"branch\":\"\"", "\"branch\":\"feature\"");
    let next = go.create_clone(body).await;
    assert_eq!(next["snapshot"]["id"], head.as_str());
    let db = connect_as(&next, "ci_bob").await;
    let name: String = db
        .query_one("SELECT name FROM items WHERE id = 5001", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(name, "on feature");
    db.batch_execute("DELETE FROM items WHERE id = 5001")
        .await
        .unwrap();
    drop(db);
    let plain = go
        .create_clone(create_request("plain", "dev", "", "null", "null"))
        .await;
    let n: i64 = connect_as(&plain, "dev")
        .await
        .query_one("SELECT count(*) FROM items WHERE id = 5001", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 0);

    // dblab snapshot create --clone-id plain, then its deletion once unused.
    let snap = go
        .send(
            "POST",
            "/snapshot/clone",
            Some("{\"cloneID\":\"plain\",\"message\":\"\"}\n".into()),
        )
        .await
        .ok();
    let snap_id = snap["id"].as_str().unwrap().to_string();
    assert_eq!(snap["branch"], "main");
    let (status, _, message) = go
        .send("DELETE", &format!("/snapshot/{main_head}"), None)
        .await
        .error();
    assert_eq!(status, 400, "{message}");
    // dblab snapshot update --protected: a protected snapshot is not deleted.
    let patched = go
        .send(
            "PATCH",
            &format!("/snapshot/{snap_id}"),
            Some("{\"protected\":true}\n".into()),
        )
        .await
        .ok();
    assert_eq!(patched["protected"], true);
    assert!(patched["protectedTill"].is_string(), "{patched}");
    let (status, _, message) = go
        .send("DELETE", &format!("/snapshot/{snap_id}"), None)
        .await
        .error();
    assert_eq!(status, 400);
    assert!(message.contains("protected"), "{message}");
    go.send(
        "PATCH",
        &format!("/snapshot/{snap_id}"),
        Some("{\"protected\":false}\n".into()),
    )
    .await
    .ok();
    go.send("DELETE", &format!("/snapshot/{snap_id}"), None)
        .await
        .ok();
    assert!(!pool.join("snapshots").join(&snap_id).exists());

    // dblab branch --delete feature: refused while clones are on it, then done.
    let (status, _, message) = go.send("DELETE", "/branch/feature", None).await.error();
    assert_eq!(status, 400);
    assert!(message.contains("clone"), "{message}");
    for id in ["work", "next", "plain"] {
        go.destroy_clone(id).await;
    }
    // dblab branch update --protected 10m, then a deletion scheduled in the past: the
    // engine's next pass deletes the branch and its snapshots.
    let patched = go
        .send(
            "PATCH",
            "/branch/feature",
            Some("{\"protected\":true,\"protectionDurationMinutes\":10}\n".into()),
        )
        .await
        .ok();
    assert_eq!(
        (patched["name"].as_str(), patched["protected"].as_bool()),
        (Some("feature"), Some(true))
    );
    let (status, _, message) = go.send("DELETE", "/branch/feature", None).await.error();
    assert_eq!(status, 400);
    assert!(message.contains("protected"), "{message}");
    let patched = go
        .send(
            "PATCH",
            "/branch/feature",
            Some("{\"protected\":false,\"deleteAt\":\"2020-01-01T00:00:00Z\"}\n".into()),
        )
        .await
        .ok();
    assert_eq!(patched["deleteAt"], "2020-01-01T00:00:00Z");
    let started = Instant::now();
    while go
        .send("GET", "/branches", None)
        .await
        .ok()
        .as_array()
        .unwrap()
        .len()
        > 1
    {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the scheduled deletion never came"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (status, _, _) = go
        .send("GET", &format!("/snapshot/{head}"), None)
        .await
        .error();
    assert_eq!(status, 404);
}
