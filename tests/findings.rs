//! Every finding id raised by a migration that must raise it, and never by its safe
//! variant: each case is one migration of an MR, run through `preflight run` on a clone
//! of a seeded database (real PostgreSQL, a real box), judged from `report.json`.
//! Dangerous cases may raise more than their id (a missing lock_timeout comes with most
//! of them); safe cases set lock_timeout and must raise nothing at all.

mod common;

use common::*;
use serde_json::Value;
use std::collections::BTreeMap;

const SEED: &str = "
CREATE TABLE customers (id bigint PRIMARY KEY, email text, name text, nick text, legacy text, code varchar(50));
INSERT INTO customers SELECT g, 'c' || g || '@example.com', 'n' || g, 'k' || g, 'l', 'x' FROM generate_series(1, 2000) g;
CREATE TABLE orders (id bigint PRIMARY KEY, customer_id bigint, total int, note text, status text, created_at timestamptz DEFAULT now());
INSERT INTO orders SELECT g, g % 2000 + 1, g % 100, 'n', CASE WHEN g % 2 = 0 THEN 'open' ELSE 'done' END FROM generate_series(1, 20000) g;
CREATE INDEX orders_status_idx ON orders (status);
CREATE INDEX orders_note_idx ON orders (note);
CREATE TABLE payments (id bigint PRIMARY KEY, order_id bigint);
INSERT INTO payments SELECT g, g FROM generate_series(1, 1000) g;
CREATE TABLE events (id bigint, payload text);
INSERT INTO events SELECT g, 'p' FROM generate_series(1, 1000) g;
CREATE TABLE scratch (id bigint);
INSERT INTO scratch SELECT g FROM generate_series(1, 100) g;
CREATE TABLE audit (id bigint);
CREATE INDEX events_payload_idx ON events (payload);
CREATE TYPE mood AS ENUM ('happy', 'sad');
CREATE TABLE moods (id bigint, feeling mood);
INSERT INTO moods SELECT g, 'happy' FROM generate_series(1, 10) g;
";

/// (migration, ids it must raise; empty: it must raise nothing).
const CASES: &[(&str, &str, &[&str])] = &[
    ("01_index_blocking.sql", "CREATE INDEX orders_total_idx ON orders (total);", &["PF-I01", "PF-L01"]),
    ("02_index_concurrently.sql", "CREATE INDEX CONCURRENTLY orders_created_idx ON orders (created_at);", &[]),
    ("03_drop_index.sql", "DROP INDEX orders_status_idx;", &["PF-I02", "PF-L01"]),
    ("04_drop_index_concurrently.sql", "DROP INDEX CONCURRENTLY orders_note_idx;", &[]),
    ("05_check_valid.sql", "ALTER TABLE orders ADD CONSTRAINT orders_total_check CHECK (total >= 0);", &["PF-C01"]),
    ("06_check_not_valid.sql", "SET lock_timeout = '2s';\nALTER TABLE orders ADD CONSTRAINT orders_total_pos CHECK (total > -1) NOT VALID;\nALTER TABLE orders VALIDATE CONSTRAINT orders_total_pos;", &[]),
    ("07_set_not_null.sql", "ALTER TABLE customers ALTER COLUMN email SET NOT NULL;", &["PF-C02"]),
    ("08_set_not_null_checked.sql", "SET lock_timeout = '2s';\nALTER TABLE customers ADD CONSTRAINT customers_name_nn CHECK (name IS NOT NULL) NOT VALID;\nALTER TABLE customers VALIDATE CONSTRAINT customers_name_nn;\nALTER TABLE customers ALTER COLUMN name SET NOT NULL;", &[]),
    ("09_unique_in_alter.sql", "ALTER TABLE customers ADD CONSTRAINT customers_email_key UNIQUE (email);", &["PF-C03"]),
    ("10_unique_using_index.sql", "CREATE UNIQUE INDEX CONCURRENTLY customers_nick_key ON customers (nick);\nSET lock_timeout = '2s';\nALTER TABLE customers ADD CONSTRAINT customers_nick_key UNIQUE USING INDEX customers_nick_key;", &[]),
    ("11_fk_unindexed.sql", "ALTER TABLE orders ADD CONSTRAINT orders_customer_fk FOREIGN KEY (customer_id) REFERENCES customers (id) NOT VALID;", &["PF-C04"]),
    ("12_fk_indexed.sql", "CREATE INDEX CONCURRENTLY payments_order_id_idx ON payments (order_id);\nSET lock_timeout = '2s';\nALTER TABLE payments ADD CONSTRAINT payments_order_fk FOREIGN KEY (order_id) REFERENCES orders (id) NOT VALID;", &[]),
    ("13_exclusion.sql", "ALTER TABLE events ADD CONSTRAINT events_excl EXCLUDE USING btree (id WITH =);", &["PF-C05"]),
    ("14_type_rewrite.sql", "ALTER TABLE orders ALTER COLUMN total TYPE bigint;", &["PF-T01"]),
    ("15_type_no_rewrite.sql", "SET lock_timeout = '2s';\nALTER TABLE customers ALTER COLUMN code TYPE varchar(100);", &[]),
    ("16_volatile_default.sql", "ALTER TABLE orders ADD COLUMN token float8 DEFAULT random();", &["PF-T02"]),
    ("17_constant_default.sql", "SET lock_timeout = '2s';\nALTER TABLE orders ADD COLUMN flag boolean DEFAULT false;", &[]),
    ("18_serial_column.sql", "ALTER TABLE events ADD COLUMN seq bigserial;", &["PF-T03"]),
    ("19_json_column.sql", "SET lock_timeout = '2s';\nALTER TABLE events ADD COLUMN meta json;", &["PF-T04"]),
    ("20_jsonb_column.sql", "SET lock_timeout = '2s';\nALTER TABLE events ADD COLUMN doc jsonb;", &[]),
    ("21_rename_column.sql", "SET lock_timeout = '2s';\nALTER TABLE customers RENAME COLUMN nick TO nickname;", &["PF-S01"]),
    ("22_drop_column.sql", "SET lock_timeout = '2s';\nALTER TABLE customers DROP COLUMN legacy;", &["PF-S02"]),
    ("23_not_null_no_default.sql", "SET lock_timeout = '2s';\nALTER TABLE audit ADD COLUMN actor text NOT NULL;", &["PF-S03"]),
    ("24_not_null_with_default.sql", "SET lock_timeout = '2s';\nALTER TABLE audit ADD COLUMN kind text NOT NULL DEFAULT 'x';", &[]),
    ("25_lock_then_more.sql", "BEGIN;\nALTER TABLE orders ADD COLUMN x int;\nUPDATE orders SET x = 1 WHERE id < 10;\nCOMMIT;", &["PF-L02"]),
    ("26_one_ddl_per_transaction.sql", "SET lock_timeout = '2s';\nBEGIN;\nALTER TABLE orders ADD COLUMN y int;\nCOMMIT;", &[]),
    ("27_long_lock.sql", "SET lock_timeout = '2s';\nBEGIN;\nLOCK TABLE scratch IN ACCESS EXCLUSIVE MODE;\nCOMMIT;\nBEGIN;\nALTER TABLE scratch ADD COLUMN z int;\nSELECT pg_sleep(0.5);\nCOMMIT;", &["PF-L03"]),
    ("28_vacuum_full.sql", "VACUUM FULL events;", &["PF-I05", "PF-L01"]),
    ("29_set_unlogged.sql", "SET lock_timeout = '2s';\nALTER TABLE scratch SET UNLOGGED;", &["PF-R01"]),
    ("30_big_update.sql", "UPDATE orders SET note = 'x';", &["PF-B01", "PF-W01"]),
    ("31_small_update.sql", "UPDATE orders SET note = 'y' WHERE id <= 100;", &[]),
    ("32_slow_migration.sql", "SELECT pg_sleep(1.6);", &["PF-D01"]),
    ("33_acknowledged.sql", "-- preflight: allow PF-I01 reason: payments is tiny in production\nSET lock_timeout = '2s';\nCREATE INDEX payments_id_idx ON payments (id, order_id);", &["PF-I01"]),
    ("34_index_recreated.sql", "SET lock_timeout = '2s';\nDROP INDEX events_payload_idx;\nCREATE INDEX events_payload_idx ON events (payload, id);", &["PF-I06"]),
    ("35_drop_type_cascade.sql", "SET lock_timeout = '2s';\nDROP TYPE mood CASCADE;", &["PF-S04"]),
    ("36_triggers_disabled.sql", "SET lock_timeout = '2s';\nALTER TABLE payments DISABLE TRIGGER USER;\nUPDATE payments SET order_id = order_id WHERE id < 5;\nALTER TABLE payments ENABLE TRIGGER USER;", &["PF-C06"]),
    ("37_new_table_fk_unindexed.sql", "SET lock_timeout = '2s';\nCREATE TABLE refunds (id bigint PRIMARY KEY, payment_id bigint REFERENCES payments (id));", &["PF-C04"]),
    ("38_new_table_fk_indexed.sql", "SET lock_timeout = '2s';\nCREATE TABLE chargebacks (id bigint PRIMARY KEY, payment_id bigint REFERENCES payments (id));\nCREATE INDEX chargebacks_payment_idx ON chargebacks (payment_id);", &[]),
    ("39_slow_create_table_as.sql", "SET lock_timeout = '2s';\nCREATE TABLE slow_copy AS SELECT o.id FROM orders o, pg_sleep(0.3);", &["PF-D03"]),
    ("40_not_null_safe_pattern.sql", "SET lock_timeout = '2s';\nALTER TABLE customers ADD COLUMN tier text;\nUPDATE customers SET tier = 'basic' WHERE id < 500;\nUPDATE customers SET tier = 'basic' WHERE id >= 500;\nALTER TABLE customers ADD CONSTRAINT customers_tier_nn CHECK (tier IS NOT NULL) NOT VALID;\nALTER TABLE customers VALIDATE CONSTRAINT customers_tier_nn;\nALTER TABLE customers ALTER COLUMN tier SET NOT NULL;", &[]),
];

/// Thresholds small enough for a test database (trusted configuration).
const THRESHOLDS: &str =
    "findings:\n  lock_hold_ms: 300\n  migration_s: 1.5\n  wal_bytes: 2000000\n";

/// Each migration's outcome and findings from report.json.
type Results = BTreeMap<String, (String, Vec<Value>)>;

/// Runs `preflight run` on the MR `repo` with `config`; returns report.json, the
/// printed note and report.md.
fn run_mr(
    root: &std::path::Path,
    repo: &std::path::Path,
    config: &std::path::Path,
) -> (Value, String, String) {
    let artifacts = root.join("artifacts");
    let out = print_only_run(repo, config, &artifacts);
    let report: Value = serde_json::from_str(
        &std::fs::read_to_string(artifacts.join("report.json"))
            .unwrap_or_else(|e| panic!("no report.json ({e}): {}", text(&out))),
    )
    .unwrap();
    let full = std::fs::read_to_string(artifacts.join("report.md")).unwrap();
    (report, text(&out), full)
}

/// Runs `cases` as one MR; returns each migration's outcome and findings, and the full
/// report (report.md).
fn run(cases: &[(&str, &str, &[&str])]) -> (Results, String) {
    let root = tempfile::tempdir().unwrap();
    let head: Vec<(&str, &str)> = cases.iter().map(|(n, sql, _)| (*n, *sql)).collect();
    let repo = repo_with_migrations(root.path(), &[], &head);
    let config = builtin_config(root.path(), SEED);
    let mut yml = std::fs::read_to_string(&config).unwrap();
    yml.push_str(THRESHOLDS);
    std::fs::write(&config, yml).unwrap();
    let (report, _, full) = run_mr(root.path(), &repo, &config);
    let results = report["databases"][0]["migrations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["name"].as_str().unwrap().to_string(),
                (
                    m["outcome"].as_str().unwrap().to_string(),
                    m["findings"].as_array().unwrap().clone(),
                ),
            )
        })
        .collect();
    (results, full)
}

fn ids(findings: &[Value]) -> Vec<&str> {
    findings.iter().map(|f| f["id"].as_str().unwrap()).collect()
}

#[test]
fn every_dangerous_migration_raises_its_id_and_no_safe_one_raises_anything() {
    let (results, full) = run(CASES);
    let mut wrong = Vec::new();
    for (file, _, expected) in CASES {
        let name = file.trim_end_matches(".sql");
        let (outcome, findings) = &results[name];
        let got = ids(findings);
        assert_eq!(outcome, "succeeded", "{name}: {findings:?}");
        let ok = match expected.is_empty() {
            true => got.is_empty(),
            false => expected.iter().all(|id| got.contains(id)),
        };
        if !ok {
            wrong.push(format!("{name}: expected {expected:?}, got {got:?}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));

    // Evidence comes with units and thresholds; acknowledged findings stay, marked.
    let (_, l03) = &results["27_long_lock"];
    let all_l03 = l03.clone();
    let l03 = l03.iter().find(|f| f["id"] == "PF-L03").unwrap();
    assert_eq!(l03["object"], "scratch");
    assert_eq!(l03["evidence"][0]["unit"], "ms");
    assert_eq!(l03["evidence"][0]["threshold"], 300.0);
    assert!(
        l03["evidence"][0]["value"].as_f64().unwrap() >= 500.0,
        "{all_l03:?}"
    );
    assert_eq!(
        l03["statement"]["number"], 6,
        "the ALTER TABLE took it: {l03}"
    );
    assert_eq!(l03["statement"]["line"], 6, "{l03}");
    let (_, ack) = &results["33_acknowledged"];
    assert_eq!(ack[0]["acknowledged"], true);
    let (_, drop) = &results["03_drop_index"];
    let i02 = drop.iter().find(|f| f["id"] == "PF-I02").unwrap();
    assert_eq!(
        i02["evidence"][0]["measure"], "ACCESS EXCLUSIVE held",
        "{i02}"
    );
    let (_, renamed) = &results["21_rename_column"];
    assert_eq!(renamed[0]["is_static"], true);
    assert_eq!(renamed[0]["object"], "customers.nick");

    // The full report has each finding with its safe pattern, and the per-statement
    // trace: the long lock's statement, and the lock's span from it to the commit.
    let section = &full[full
        .find("### 27_long_lock")
        .expect("a section per migration")..];
    let section = &section[..section[4..].find("\n### ").map_or(section.len(), |i| i + 4)];
    let l03_row = section
        .lines()
        .find(|l| l.starts_with("| PF-L03 "))
        .unwrap_or_else(|| panic!("no PF-L03 row in the full report:\n{section}"));
    assert!(l03_row.contains("threshold 300 ms"), "{l03_row}");
    assert!(
        l03_row
            .contains(preflight::analyze::registry::rule_by_id(preflight::model::RuleId::L03).fix),
        "{l03_row}"
    );
    let statement_6 = section
        .lines()
        .find(|l| l.starts_with("| 6 |"))
        .unwrap_or_else(|| panic!("no statement 6 in the trace:\n{section}"));
    assert!(
        statement_6.contains("`ALTER TABLE scratch"),
        "{statement_6}"
    );
    assert!(
        statement_6.contains("AccessExclusive `scratch`"),
        "{statement_6}"
    );
    assert!(
        section
            .lines()
            .any(|l| l.starts_with("| `scratch` | `scratch` | AccessExclusive | #6 |")),
        "the lock span names the statement that took it:\n{section}"
    );
}

#[test]
fn failures_raise_their_own_ids() {
    let (results, _) = run(&[(
        "01_concurrently_in_transaction.sql",
        "BEGIN;\nCREATE INDEX CONCURRENTLY orders_total_idx ON orders (total);\nCOMMIT;",
        &[],
    )]);
    let (outcome, findings) = &results["01_concurrently_in_transaction"];
    assert_eq!(outcome, "failed");
    assert!(ids(findings).contains(&"PF-I03"), "{findings:?}");
    assert!(ids(findings).contains(&"PF-F01"), "{findings:?}");

    let (results, _) = run(&[(
        "01_unique_on_duplicates.sql",
        "CREATE UNIQUE INDEX CONCURRENTLY orders_status_key ON orders (status);",
        &[],
    )]);
    let (outcome, findings) = &results["01_unique_on_duplicates"];
    assert_eq!(outcome, "failed");
    assert!(ids(findings).contains(&"PF-I04"), "{findings:?}");
}

/// The ownership map of a decomposed pair: `main` owns the seeded tables, `ci` owns
/// `ci_*` (tables the seed does not have).
const TWO_DATABASES: &str = "databases:\n  - {name: main, db_name: app, migrations: db/migrations, tables: [customers, orders, payments, events, scratch, audit]}\n  - {name: ci, db_name: app, migrations: db/ci_migrations, tables: [\"ci_*\"]}\n";

#[test]
fn a_table_of_another_database_raises_pf_x01_and_its_own_tables_do_not() {
    let root = tempfile::tempdir().unwrap();
    let head = [
        ("01_ci_table_in_main.sql", "SET lock_timeout = '2s';\nCREATE TABLE ci_pipelines (id bigint);"),
        ("02_own_table.sql", "SET lock_timeout = '2s';\nALTER TABLE orders ADD COLUMN stage text;"),
        ("03_reads_ci_table.sql", "SET lock_timeout = '2s';\nUPDATE orders SET stage = 'x' WHERE id IN (SELECT id FROM ci_pipelines);"),
    ];
    let repo = repo_with_migrations(root.path(), &[], &head);
    let ci_dir = repo.join("db/ci_migrations");
    std::fs::create_dir_all(&ci_dir).unwrap();
    std::fs::write(
        ci_dir.join("01_ci_builds.sql"),
        "SET lock_timeout = '2s';\nCREATE TABLE ci_builds (id bigint);",
    )
    .unwrap();
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "-qm", "ci migration"]);
    let config = builtin_config(root.path(), SEED);
    let yml = std::fs::read_to_string(&config).unwrap().replace(
        "databases:\n  - {name: main, db_name: app, migrations: db/migrations}\n",
        TWO_DATABASES,
    );
    assert!(yml.contains("ci_*"), "the config template changed: {yml}");
    std::fs::write(&config, yml).unwrap();
    let (report, note, _) = run_mr(root.path(), &repo, &config);
    let migrations = report["databases"][0]["migrations"].as_array().unwrap();
    let findings = |name: &str| -> Vec<Value> {
        let m = migrations.iter().find(|m| m["name"] == name).unwrap();
        m["findings"].as_array().unwrap().clone()
    };
    let x01 = |name: &str| -> Vec<Value> {
        findings(name)
            .into_iter()
            .filter(|f| f["id"] == "PF-X01")
            .collect()
    };
    let made = x01("01_ci_table_in_main");
    assert_eq!(made.len(), 1, "{:?}", findings("01_ci_table_in_main"));
    assert_eq!(made[0]["object"], "ci_pipelines");
    assert_eq!(made[0]["statement"]["number"], 2, "statement 1 is the SET");
    assert_eq!(made[0]["statement"]["kind"], "CREATE TABLE");
    assert_eq!(made[0]["severity"], "error");
    assert!(
        made[0]["evidence"]
            .to_string()
            .contains("ACCESS EXCLUSIVE held"),
        "the lock the session took on it is evidence: {}",
        made[0]["evidence"]
    );
    assert!(
        findings("02_own_table").is_empty(),
        "{:?}",
        findings("02_own_table")
    );
    let read = x01("03_reads_ci_table");
    assert_eq!(read.len(), 1, "{:?}", findings("03_reads_ci_table"));
    assert_eq!(read[0]["object"], "ci_pipelines");
    assert!(
        read[0]["evidence"]
            .to_string()
            .contains("statements naming a table of database ci"),
        "{}",
        read[0]["evidence"]
    );
    let ci = &report["databases"][1];
    assert_eq!(ci["name"], "ci");
    assert_eq!(
        ci["migrations"][0]["findings"],
        serde_json::json!([]),
        "a ci table made by a ci migration is in its own database"
    );
    assert!(note.contains("PF-X01"), "{note}");
}
