//! Up, down, up again, through `preflight run`: every migration that has a way back
//! (diesel's `down.sql`, golang-migrate's `.down.sql`, dbmate's `-- migrate:down`) runs
//! its down right after its up, the schema is compared by name with the schema before
//! the up, and the up runs again. A clean pair passes; a down that forgets an index, a
//! down that fails and an up that cannot run twice are each reported, in the note and
//! as findings.

mod common;

use common::*;
use serde_json::Value;

const SEED: &str = "CREATE TABLE orders (id bigint PRIMARY KEY, total int);
INSERT INTO orders SELECT g, g % 100 FROM generate_series(1, 1000) g;
CREATE TABLE settings (key text PRIMARY KEY);";

fn rehearse(files: &[(&str, &str)]) -> (Option<i32>, String, Value) {
    rehearse_files(SEED, files, "")
}

fn migration(report: &Value, i: usize) -> &Value {
    &report["databases"][0]["migrations"][i]
}

fn finding_ids(m: &Value) -> Vec<String> {
    let mut ids: Vec<String> = m["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap().to_string())
        .filter(|id| id.starts_with("PF-U"))
        .collect();
    ids.sort();
    ids
}

#[test]
fn a_clean_pair_comes_back_to_the_same_schema_and_applies_again() {
    let (code, note, report) = rehearse(&[
        (
            "2024-01-01-000000_audit/up.sql",
            "CREATE TABLE audit_log (id bigint PRIMARY KEY, at timestamptz);
CREATE INDEX audit_log_at_idx ON audit_log (at);
ALTER TABLE orders ADD COLUMN audited boolean DEFAULT false;
GRANT SELECT ON audit_log TO PUBLIC;\n",
        ),
        (
            "2024-01-01-000000_audit/down.sql",
            "ALTER TABLE orders DROP COLUMN audited;\nDROP TABLE audit_log;\n",
        ),
    ]);
    assert_eq!(code, Some(0), "{note}");
    let m = migration(&report, 0);
    assert_eq!(m["outcome"], "succeeded");
    let back = &m["way_back"];
    assert_eq!(back["down"]["outcome"], "succeeded", "{back}");
    assert_eq!(back["differences"], serde_json::json!([]), "{back}");
    assert_eq!(back["up_again"]["outcome"], "succeeded", "{back}");
    // The down was observed like a migration: its statements were traced.
    let down_kinds: Vec<String> = traced(&back["down"], "kind")
        .into_iter()
        .filter(|k| k != "TRANSACTION")
        .collect();
    assert_eq!(down_kinds, ["ALTER TABLE", "DROP"], "{back}");
    assert_eq!(back["down"]["transaction"], "whole_file", "{back}");
    assert!(finding_ids(m).is_empty(), "{m}");
    // The down's own findings (it dropped a column the running application may still
    // read) are counted in the note and listed in the full report.
    assert!(
        note.contains(
            "Its down, which runs only to roll back, has 4 causes of its own, in the full report"
        ),
        "{note}"
    );
    let down = &back["down"]["findings"];
    assert!(
        down.as_array()
            .unwrap()
            .iter()
            .any(|f| f["id"] == "PF-S02" && f["object"] == "orders.audited"),
        "{down}"
    );
    assert!(
        note.contains("| `2024-01-01-000000_audit` | :white_check_mark: success in")
            && note.contains(":white_check_mark: as before the up | :white_check_mark: success |"),
        "{note}"
    );
}

#[test]
fn a_down_that_forgets_an_index_is_named_and_the_up_cannot_run_again() {
    let (code, note, report) = rehearse(&[
        (
            "2024-01-01-000000_totals/up.sql",
            "CREATE INDEX orders_total_idx ON orders (total);\nCREATE TABLE totals (id int);\n",
        ),
        ("2024-01-01-000000_totals/down.sql", "DROP TABLE totals;\n"),
        (
            "2024-01-02-000000_later/up.sql",
            "CREATE TABLE later (id int);\n",
        ),
    ]);
    assert_eq!(code, Some(0), "{note}");
    let m = migration(&report, 0);
    let back = &m["way_back"];
    let differences = back["differences"].as_array().unwrap();
    assert_eq!(differences.len(), 1, "{back}");
    assert_eq!(differences[0]["change"], "left");
    assert_eq!(differences[0]["kind"], "index");
    assert_eq!(differences[0]["name"], "public.orders_total_idx");
    assert_eq!(back["up_again"]["outcome"], "failed");
    assert_eq!(back["up_again"]["sqlstate"], "42P07");
    assert_eq!(finding_ids(m), ["PF-U02", "PF-U03"]);
    // The clone is no longer what production would have: the rest is not rehearsed.
    assert_eq!(migration(&report, 1)["outcome"], "skipped");
    assert!(
        note.contains("- index `orders_total_idx`: left behind by the down"),
        "{note}"
    );
    assert!(note.contains(":warning: 1 objects not as before"), "{note}");
    assert!(note.contains("`42P07` duplicate_table"), "{note}");
    assert!(note.contains("PF-U02") && note.contains("PF-U03"), "{note}");
}

#[test]
fn a_down_that_fails_is_reported_and_the_next_migration_still_runs() {
    let (code, note, report) = rehearse(&[
        ("1_accounts.up.sql", "CREATE TABLE accounts (id int);\n"),
        ("1_accounts.down.sql", "DROP TABLE acounts;\n"),
        ("2_ledger.up.sql", "CREATE TABLE ledger (id int);\n"),
    ]);
    assert_eq!(code, Some(0), "{note}");
    let back = &migration(&report, 0)["way_back"];
    assert_eq!(back["down"]["outcome"], "failed", "{back}");
    assert_eq!(back["down"]["sqlstate"], "42P01");
    assert!(back["up_again"].is_null(), "{back}");
    assert_eq!(finding_ids(migration(&report, 0)), ["PF-U01"]);
    // golang-migrate sends the down as one query: it rolled back, the clone is as after
    // the up, so the next migration runs.
    assert_eq!(migration(&report, 1)["outcome"], "succeeded");
    assert!(migration(&report, 1)["way_back"].is_null());
    assert!(
        note.contains(":x: failure in") && note.contains("`42P01` undefined_table"),
        "{note}"
    );
}

#[test]
fn an_up_that_cannot_run_twice_is_reported_even_when_the_schema_comes_back() {
    let (code, note, report) = rehearse(&[(
        "20240101000000_audit_setting.sql",
        "-- migrate:up\nINSERT INTO settings VALUES ('audit');\n\
         -- migrate:down\nSELECT 1;\n",
    )]);
    assert_eq!(code, Some(0), "{note}");
    let m = migration(&report, 0);
    let back = &m["way_back"];
    assert_eq!(back["differences"], serde_json::json!([]), "{back}");
    assert_eq!(back["up_again"]["sqlstate"], "23505", "{back}");
    assert_eq!(finding_ids(m), ["PF-U03"]);
    assert!(note.contains("`23505` unique_violation"), "{note}");
}
