//! The clone runs production's PostgreSQL major. A source without a server of its own
//! (`sql_file`) gets `builtin.postgres_major`; a source with one (`url`, `data_dir`)
//! gets the major its data was made by. Majors the host's packages lack are prepared by
//! `ops/pg-major.sh` (17 by `ops/dev-setup.sh`) and run with the same confinement as
//! the host's own. Each test says plainly when a major it needs is not on this machine.

mod common;

use common::engine::*;
use common::*;
use preflight::pg::majors::{Majors, PREPARED};
use preflight::pg::server::{PgServer, StopMode};
use serde_json::Value;
use std::path::Path;

const SEED: &str = "CREATE TABLE accounts (id bigint PRIMARY KEY, email text NOT NULL);
INSERT INTO accounts SELECT g, 'user' || g || '@example.com' FROM generate_series(1, 500) g;";

/// 17's `JSON_TABLE` (a syntax error before 17), with a way back; it says which `psql`
/// runs it.
const UP_17: &str = "\\echo psql :VERSION_NUM
CREATE TABLE tags AS
  SELECT * FROM JSON_TABLE('[{\"t\":\"a\"},{\"t\":\"b\"}]', '$[*]' COLUMNS (t text PATH '$.t')) AS j;
CREATE INDEX tags_t_idx ON tags (t);\n";
const DOWN_17: &str = "DROP TABLE tags;\n";

fn majors_or_skip(needed: &[u32]) -> Option<Majors> {
    let majors = Majors::new(Path::new(PREPARED));
    let missing: Vec<u32> = needed
        .iter()
        .copied()
        .filter(|m| majors.find(*m).is_none())
        .collect();
    if missing.is_empty() {
        return Some(majors);
    }
    eprintln!(
        "SKIPPED: PostgreSQL {missing:?} not on this machine; ops/dev-setup.sh prepares 17, \
         ops/pg-major.sh <major> any other"
    );
    None
}

/// Rehearses `files` as a superuser on a `sql_file` snapshot of `major`; answers the
/// exit code, the note, report.json and the first migration's box output.
fn rehearse_on(major: u32, files: &[(&str, &str)]) -> (Option<i32>, String, Value, String) {
    let root = tempfile::tempdir().unwrap();
    let repo = repo_with_migrations(root.path(), &[], files);
    let config = builtin_config_with(root.path(), SEED, "role: {superuser: true}");
    let yaml = std::fs::read_to_string(&config).unwrap().replace(
        "  source:",
        &format!("  postgres_major: {major}\n  source:"),
    );
    std::fs::write(&config, yaml).unwrap();
    let (code, note, report) = rehearse_checkout(&repo, &config, &root.path().join("artifacts"));
    let log = report["databases"][0]["migrations"][0]["log_file"]
        .as_str()
        .and_then(|f| std::fs::read_to_string(f).ok())
        .unwrap_or_default();
    (code, note, report, log)
}

#[test]
fn a_migration_only_the_newer_major_accepts_succeeds_there_and_fails_on_15() {
    if majors_or_skip(&[15, 17]).is_none() {
        return;
    }
    let files = [
        ("2024-01-01-000000_tags/up.sql", UP_17),
        ("2024-01-01-000000_tags/down.sql", DOWN_17),
    ];
    let (code, note, report, output) = rehearse_on(17, &files);
    assert_eq!(code, Some(0), "{note}\n{report}");
    let db = &report["databases"][0];
    let version = db["server_version"].as_str().unwrap();
    assert!(version.starts_with("17."), "{version}");
    let m = &db["migrations"][0];
    assert_eq!(m["outcome"], "succeeded", "{m}");
    // The box ran it with a psql of the clone's major, not the image's 15.
    assert!(output.contains("psql 17"), "{output}");
    // The way back works on 17: down, the same schema as before, up again.
    let back = &m["way_back"];
    assert_eq!(back["down"]["outcome"], "succeeded", "{back}");
    assert_eq!(back["differences"], serde_json::json!([]), "{back}");
    assert_eq!(back["up_again"]["outcome"], "succeeded", "{back}");
    // Observed as on any major: the index build's SHARE lock is in the trace.
    assert!(
        m["trace"]["locks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l["mode"] == "Share" && l["relation"] == "tags"),
        "{m}"
    );
    assert!(
        note.contains("PostgreSQL 17"),
        "the note says which: {note}"
    );

    let (code, note, report, output) = rehearse_on(15, &files);
    assert!(output.contains("psql 15"), "the image's own: {output}");
    assert_eq!(code, Some(1), "{note}\n{report}");
    let db = &report["databases"][0];
    assert!(db["server_version"].as_str().unwrap().starts_with("15."));
    let m = &db["migrations"][0];
    assert_eq!(m["outcome"], "failed", "{m}");
    assert_eq!(m["sqlstate"], "42601", "{m}");
}

/// Production on PostgreSQL `major`: a server on a data directory under `dir`, running,
/// with an `app` database.
async fn production(majors: &Majors, major: u32, dir: &Path) -> (PgServer, u16) {
    let (server, port) = started_server(majors.bin_dir(major).unwrap(), dir).await;
    let admin = server.connect(port, "postgres").await.unwrap();
    admin.batch_execute("CREATE DATABASE app").await.unwrap();
    (server, port)
}

/// An engine on `source` (YAML) with `extra` settings, its snapshot ready.
async fn engine_on(dir: &Path, source: &str, extra: &str) -> EngineProc {
    let pool = dir.join("pool");
    let config = engine_config(dir, &pool, extra);
    let text: String = std::fs::read_to_string(&config)
        .unwrap()
        .lines()
        .map(|l| match l.starts_with("source:") {
            true => format!("source: {source}\n"),
            false => format!("{l}\n"),
        })
        .collect();
    std::fs::write(&config, text).unwrap();
    let engine = EngineProc::start_with(config, &pool);
    engine.wait_for_snapshot().await;
    engine
}

/// The major a clone of `engine` runs.
async fn clone_major(engine: &EngineProc, id: &str) -> String {
    engine.create(id).await;
    let clone = engine.wait_settled(id).await;
    assert_eq!(clone["status"]["code"], "OK", "{clone}");
    let db = connect_clone(&clone).await;
    let version: String = db
        .query_one("SHOW server_version", &[])
        .await
        .unwrap()
        .get(0);
    drop(db);
    let (status, _) = engine.call("DELETE", &format!("/clone/{id}"), None).await;
    assert_eq!(status, 200);
    engine.wait_gone(id).await;
    version
}

/// A `data_dir` source made by 17 is cloned on 17, and a `url` source on a 15 server is
/// copied onto 15, whatever `postgres_major` says: the clone follows production.
#[tokio::test(flavor = "multi_thread")]
async fn a_source_with_its_own_server_is_cloned_on_its_major() {
    let Some(majors) = majors_or_skip(&[15, 17]) else {
        return;
    };
    let root = tempfile::tempdir().unwrap();
    // Production of 17, stopped: its data directory is the source.
    let (prod17, _) = production(&majors, 17, &root.path().join("prod17")).await;
    prod17.stop(StopMode::Fast).await.unwrap();
    let on17 = root.path().join("on17");
    std::fs::create_dir_all(&on17).unwrap();
    let engine = engine_on(
        &on17,
        &format!("{{kind: data_dir, path: {}}}", prod17.data_dir.display()),
        "backend: copy\nport_range: [7150, 7154]\npostgres_major: 15\n",
    )
    .await;
    let version = clone_major(&engine, "c17").await;
    assert!(version.starts_with("17."), "{version}");
    drop(engine);

    // Production of 15, reached by URL: pg_dump of the newest major, restored into 15.
    let prod15 = root.path().join("prod15");
    let (server, port) = production(&majors, 15, &prod15).await;
    let on15 = root.path().join("on15");
    std::fs::create_dir_all(&on15).unwrap();
    let url = format!(
        "postgresql://postgres@/app?host={}&port={port}",
        prod15.join("sock").display()
    );
    let engine = engine_on(
        &on15,
        &format!("{{kind: url, url: \"{url}\"}}"),
        "backend: copy\nport_range: [7155, 7159]\npostgres_major: 17\n",
    )
    .await;
    let version = clone_major(&engine, "c15").await;
    assert!(version.starts_with("15."), "{version}");
    drop(engine);
    server.stop(StopMode::Fast).await.unwrap();
}

/// 18's named NOT NULL constraints (`CONSTRAINT x NOT NULL col`, a syntax error before
/// 18; Lemmy's downs use them) run on a clone of 18, as production on 18 runs them.
#[test]
fn a_down_that_only_18_accepts_passes_on_18() {
    if majors_or_skip(&[18]).is_none() {
        return;
    }
    let files = [
        (
            "2025-01-01-000000_person/up.sql",
            "ALTER TABLE accounts ALTER COLUMN email DROP NOT NULL;\n",
        ),
        (
            "2025-01-01-000000_person/down.sql",
            "ALTER TABLE accounts ADD CONSTRAINT accounts_email_not_null NOT NULL email;\n",
        ),
    ];
    let (code, note, report, _) = rehearse_on(18, &files);
    assert_eq!(code, Some(0), "{note}\n{report}");
    let db = &report["databases"][0];
    assert!(db["server_version"].as_str().unwrap().starts_with("18."));
    let back = &db["migrations"][0]["way_back"];
    assert_eq!(back["down"]["outcome"], "succeeded", "{back}");
    assert_eq!(back["up_again"]["outcome"], "succeeded", "{back}");
}

/// Every major this host has (13, 15, 17, 18 where prepared) rehearses a migration with
/// its statements, locks, finding and way back: the catalog queries that differ between
/// majors (pg_stat_statements' columns, its reset's signature) hold on each.
#[test]
fn every_major_here_rehearses_with_its_trace_findings_and_way_back() {
    let majors = Majors::new(Path::new(PREPARED)).available();
    eprintln!("majors on this machine: {majors:?}");
    assert!(
        majors.len() >= 2,
        "ops/dev-setup.sh gives 15 and 17: {majors:?}"
    );
    let files = [
        (
            "2024-02-01-000000_email_idx/up.sql",
            "CREATE INDEX accounts_email_idx ON accounts (email);\n",
        ),
        (
            "2024-02-01-000000_email_idx/down.sql",
            "DROP INDEX accounts_email_idx;\n",
        ),
    ];
    for major in majors {
        let (code, note, report, _) = rehearse_on(major, &files);
        assert_eq!(code, Some(0), "{major}: {note}\n{report}");
        let db = &report["databases"][0];
        let version = db["server_version"].as_str().unwrap();
        assert!(version.starts_with(&format!("{major}.")), "{version}");
        let m = &db["migrations"][0];
        let statements = m["statements"].as_array().unwrap();
        assert!(
            statements
                .iter()
                .any(|s| s["query"].as_str().unwrap().starts_with("CREATE INDEX")),
            "{major}: pg_stat_statements read: {m}"
        );
        assert!(
            m["findings"]
                .as_array()
                .unwrap()
                .iter()
                .any(|f| f["id"] == "PF-I01"),
            "{major}: {m}"
        );
        let back = &m["way_back"];
        assert_eq!(back["down"]["outcome"], "succeeded", "{major}: {back}");
        assert_eq!(
            back["differences"],
            serde_json::json!([]),
            "{major}: {back}"
        );
        assert_eq!(back["up_again"]["outcome"], "succeeded", "{major}: {back}");
    }
}
