//! The exact trace through a driver that uses the extended protocol and pipelining
//! (tokio-postgres) on a real clone: every statement is recorded with its locks, a lock
//! held for a moment in autocommit is seen, and the client's results, errors and
//! transaction state are what they would be without the bridge's observation.

mod common;

use common::seeded_clone::{seeded_clone, SeededClone};
use preflight::bridge::{Bridge, Upstream};
use preflight::clone::builtin::BuiltinEngine;
use preflight::clone::CloneEngine;
use preflight::observe::Observer;
use preflight::pg::lock_mode::LockMode;
use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread")]
async fn extended_and_pipelined_statements_are_traced_and_answered_unchanged() {
    let root = tempfile::tempdir().unwrap();
    let SeededClone {
        engine,
        id,
        info: clone,
    } = seeded_clone(
        root.path(),
        "CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t SELECT g, 'v' FROM generate_series(1, 100) g;\
         CREATE INDEX t_v_idx ON t (v);",
        "trace",
    )
    .await;
    let upstream = Upstream::of(&clone);
    let sock = root.path().join("sock");
    std::fs::create_dir_all(&sock).unwrap();
    std::fs::set_permissions(&sock, std::fs::Permissions::from_mode(0o755)).unwrap();
    let observer = Observer::connect(&upstream, Duration::from_millis(20))
        .await
        .unwrap();
    let bridge = Bridge::start(&sock, upstream, Some(observer.lock_reader())).unwrap();
    let log = bridge.log.clone();

    let (client, conn) = tokio_postgres::Config::new()
        .host_path(&sock)
        .user("anyone")
        .dbname("app")
        .connect(tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);

    // Pipelined: three queries in flight at once, answered in order.
    let (a, b, c) = tokio::join!(
        client.query_one("SELECT $1::int + 1", &[&1i32]),
        client.query_one("SELECT count(*) FROM t WHERE id > $1", &[&90i32]),
        client.query_one("SELECT $1::text", &[&"x"]),
    );
    assert_eq!(a.unwrap().get::<_, i32>(0), 2);
    assert_eq!(b.unwrap().get::<_, i64>(0), 10);
    assert_eq!(c.unwrap().get::<_, String>(0), "x");

    // A transaction: a lock taken by one statement, then an error, then rollback.
    client.batch_execute("BEGIN").await.unwrap();
    client
        .execute("LOCK TABLE t IN SHARE MODE", &[])
        .await
        .unwrap();
    let err = client
        .execute("INSERT INTO t VALUES ($1, 'dup')", &[&1i32])
        .await
        .unwrap_err();
    assert_eq!(err.code().unwrap().code(), "23505");
    client.batch_execute("ROLLBACK").await.unwrap();

    // Autocommit DDL: its ACCESS EXCLUSIVE lasts a moment; the client sees no transaction.
    client.batch_execute("DROP INDEX t_v_idx").await.unwrap();
    let warning = client.batch_execute("COMMIT").await;
    assert!(warning.is_ok(), "the session is idle after the DDL");
    let still = client
        .query_one(
            "SELECT count(*) FROM pg_indexes WHERE indexname = 't_v_idx'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(still.get::<_, i64>(0), 0, "the DROP was committed");

    let statements = log.take().statements;
    let lock = statements
        .iter()
        .find(|s| s.text.starts_with("LOCK TABLE"))
        .expect("the LOCK statement is traced");
    assert!(lock.extended);
    assert_eq!((lock.tx_before, lock.tx_after), ('T', 'T'));
    assert!(
        lock.locks.iter().any(|l| l.mode == LockMode::Share),
        "{lock:?}"
    );
    let insert = statements
        .iter()
        .find(|s| s.text.starts_with("INSERT"))
        .unwrap();
    assert_eq!(insert.sqlstate.as_deref(), Some("23505"));
    let drop = statements
        .iter()
        .find(|s| s.text == "DROP INDEX t_v_idx")
        .unwrap();
    assert_eq!((drop.tx_before, drop.tx_after), ('I', 'I'));
    assert!(
        drop.locks
            .iter()
            .any(|l| l.mode == LockMode::AccessExclusive),
        "the autocommit DROP's lock is seen: {drop:?}"
    );
    let selects = statements
        .iter()
        .filter(|s| s.text.starts_with("SELECT $1") || s.text.starts_with("SELECT count"))
        .count();
    assert!(selects >= 3, "pipelined statements are each recorded");

    drop_all(bridge, engine, &id).await;
}

async fn drop_all(bridge: Bridge, engine: BuiltinEngine, id: &str) {
    bridge.stop().await;
    engine.destroy(id).await.unwrap();
}
