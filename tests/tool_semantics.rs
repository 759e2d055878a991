//! Each SQL tool's transactions, reproduced: a file whose first statement takes ACCESS
//! EXCLUSIVE on an existing table and whose second takes a second holds that lock
//! for one statement under psql (autocommit), and for the whole file under diesel (one
//! transaction) and golang-migrate (one query); a diesel migration whose
//! `metadata.toml` says `run_in_transaction = false` runs statement by statement, and
//! Flyway runs a file of concurrent index builds without a transaction. The
//! report says which way each file ran, and the note says it in words.

mod common;

use common::*;
use serde_json::Value;

const SEED: &str = "CREATE TABLE orders (id bigint PRIMARY KEY, total int);
INSERT INTO orders SELECT g, g % 100 FROM generate_series(1, 1000) g;";

/// A sampled hold time is accurate to about one sampling interval, so a lock held for
/// the whole file counts from well below the second it lasted, and one held for a
/// statement from well above how long `ALTER TABLE` takes.
const WHOLE_FILE_MS: f64 = 800.0;
const ONE_STATEMENT_MS: f64 = 400.0;

const SQL: &str =
    "SET lock_timeout = '2s';\nALTER TABLE orders ADD COLUMN note text;\nSELECT pg_sleep(1);\n";

/// Runs the MR whose migrations are `files` and returns the note, how the first
/// migration ran, and how long it held ACCESS EXCLUSIVE on `orders`, in ms.
fn rehearse(files: &[(&str, &str)]) -> (String, Value, f64) {
    let root = tempfile::tempdir().unwrap();
    let repo = repo_with_migrations(root.path(), &[], files);
    let config = builtin_config(root.path(), SEED);
    let artifacts = root.path().join("artifacts");
    let out = print_only_run(&repo, &config, &artifacts);
    assert!(matches!(out.status.code(), Some(0)), "{}", text(&out));
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(artifacts.join("report.json")).unwrap())
            .unwrap();
    let m = &report["databases"][0]["migrations"][0];
    // Between the statements of one query the session cannot be asked for its locks,
    // so there the sampler's view (`locks`) is the measure, as in the report.
    let traced = m["trace"]["locks"].as_array().unwrap().iter();
    let sampled = m["locks"].as_array().unwrap().iter();
    let held = traced
        .filter(|l| l["table"] == "orders")
        .chain(sampled.filter(|l| l["relation"] == "orders"))
        .filter(|l| l["mode"] == "AccessExclusive")
        .map(|l| l["held_ms"].as_f64().unwrap())
        .fold(0.0, f64::max);
    assert!(held > 0.0, "the lock was traced: {m}");
    let note = String::from_utf8_lossy(&out.stdout).into_owned();
    (note, m["transaction"].clone(), held)
}

#[test]
fn psql_commits_each_statement_so_the_lock_ends_with_its_statement() {
    let (note, transaction, held) = rehearse(&[("0001_add_note.sql", SQL)]);
    assert_eq!(transaction, "per_statement");
    assert!(held < ONE_STATEMENT_MS, "held {held} ms");
    assert!(
        note.contains("the way psql runs it: every statement committed on its own"),
        "{note}"
    );
}

#[test]
fn diesel_runs_the_file_in_one_transaction_so_the_lock_lasts_the_whole_file() {
    let (note, transaction, held) = rehearse(&[("2024-01-01-000000_add_note/up.sql", SQL)]);
    assert_eq!(transaction, "whole_file");
    assert!(held >= WHOLE_FILE_MS, "held {held} ms");
    assert!(
        note.contains(
            "the way diesel runs it: in one transaction, so a lock is held until the file ends"
        ),
        "{note}"
    );
}

#[test]
fn a_diesel_migration_that_opts_out_runs_statement_by_statement() {
    let (note, transaction, held) = rehearse(&[
        ("2024-01-01-000000_add_note/up.sql", SQL),
        (
            "2024-01-01-000000_add_note/metadata.toml",
            "run_in_transaction = false\n",
        ),
    ]);
    assert_eq!(transaction, "per_statement");
    assert!(held < ONE_STATEMENT_MS, "held {held} ms");
    assert!(
        note.contains("(1 file opts out and ran statement by statement)"),
        "{note}"
    );
}

#[test]
fn golang_migrate_sends_the_file_as_one_query_so_the_lock_lasts_the_whole_file() {
    let (note, transaction, held) = rehearse(&[("1_add_note.up.sql", SQL)]);
    assert_eq!(transaction, "one_query");
    assert!(held >= WHOLE_FILE_MS, "held {held} ms");
    assert!(
        note.contains("golang-migrate runs it: the whole file as one query"),
        "{note}"
    );
}

#[test]
fn flyway_runs_a_file_of_concurrent_index_builds_without_a_transaction_and_refuses_a_mixed_one() {
    let (code, note, report) = rehearse_files(
        SEED,
        &[
            (
                "V1__total_idx.sql",
                "CREATE INDEX CONCURRENTLY orders_total_idx ON orders (total);\n",
            ),
            (
                "V2__note.sql",
                "ALTER TABLE orders ADD COLUMN note text;\n\
                 CREATE INDEX CONCURRENTLY orders_note_idx ON orders (note);\n",
            ),
        ],
        "",
    );
    assert_eq!(code, Some(1), "{note}");
    let migrations = report["databases"][0]["migrations"].as_array().unwrap();
    assert_eq!(migrations[0]["transaction"], "per_statement");
    assert_eq!(migrations[0]["outcome"], "succeeded");
    // Flyway refuses to mix them (unless `mixed`); in one transaction PostgreSQL does too.
    assert_eq!(migrations[1]["transaction"], "whole_file");
    assert_eq!(migrations[1]["sqlstate"], "25001");
    assert!(note.contains("the way Flyway runs it"), "{note}");
}
