//! Batched background migrations through `preflight run`: a migration declares a
//! backfill of a million-row table in batches of 50,000; sampled (6 batches) it reports
//! an estimate with an interval, and run whole (the same 6 first, then every other batch,
//! on the same clone) the measured total is within a quarter of the estimate its first 6
//! made. A job whose batches lock the table and walk an unindexed key gets PF-B02, PF-B03
//! and PF-B04.

mod common;

use common::*;

const SEED: &str = "CREATE TABLE orders (id bigint PRIMARY KEY, total int NOT NULL);
INSERT INTO orders SELECT g, g % 1000 FROM generate_series(1, 1000000) g;";

const BACKFILL: &str = "ALTER TABLE orders ADD COLUMN cents bigint;
-- preflight:batched
-- table: orders
-- key: id
-- batch_size: 50000
-- pause: 100ms
-- statement: UPDATE orders SET cents = total * 100 WHERE id >= :start AND id < :end
";

fn backfill(batches: &str) -> (String, serde_json::Value) {
    let (code, note, report) = rehearse_files_configured(
        SEED,
        &[("0001_backfill_cents.sql", BACKFILL)],
        "",
        &format!("batches: {batches}\n"),
    );
    assert_eq!(code, Some(0), "{note}");
    let batched = report["databases"][0]["migrations"][0]["batched"].clone();
    assert!(batched.is_object(), "no batched job: {report}");
    (note, batched)
}

#[test]
fn a_sampled_estimate_comes_within_a_quarter_of_the_measured_total() {
    // Sampled: 6 batches of the 20.
    let (note, sampled) = backfill("{samples: 6, budget: 2m}");
    assert_eq!(sampled["batches"], 20, "{sampled}");
    assert_eq!(sampled["complete"], false, "{sampled}");
    assert_eq!(sampled["samples"].as_array().unwrap().len(), 6, "{sampled}");
    assert!(
        note.contains("6 of its 20 batches ran on the clone"),
        "{note}"
    );
    assert!(
        note.contains("50,000 rows per batch, 1 rows per key value, 100 ms pause"),
        "{note}"
    );
    assert!(note.contains("| Batch time | under 10 ms |"), "{note}");

    // Whole: the same 6 first, then the other 14, on the same clone in the same minute.
    let (note, whole) = backfill("{samples: 6, whole_up_to: 50, budget: 2m}");
    let f = |v: &serde_json::Value, k: &str| v[k].as_f64().unwrap();
    let batches = whole["samples"].as_array().unwrap();
    assert_eq!(whole["complete"], true, "{whole}");
    assert_eq!(batches.len(), 20, "{whole}");
    let rows: u64 = batches.iter().map(|s| s["rows"].as_u64().unwrap()).sum();
    assert_eq!(rows, 1_000_000);
    for s in batches {
        assert_eq!(s["rows"], 50_000, "{s}");
        assert!(s["wal_bytes"].as_i64().unwrap() > 1_000_000, "{s}");
    }
    // Spread over the range: the first batch, then the last.
    assert_eq!(batches[0]["start"], 1, "{whole}");
    assert!(batches[1]["start"].as_i64().unwrap() > 900_000, "{whole}");
    assert_eq!(whole["estimated_from"], 6, "{whole}");

    let measured = f(&whole, "measured_s");
    let (low, high) = (f(&whole, "low_s"), f(&whole, "high_s"));
    let times: Vec<String> = batches
        .iter()
        .map(|s| format!("{:.0}", f(s, "ms")))
        .collect();
    eprintln!(
        "6 of 20 batches: estimate {:.2} s in [{low:.2}, {high:.2}]; all 20: {measured:.2} s; \
         batch ms in run order: {}",
        f(&whole, "estimate_s"),
        times.join(" ")
    );
    // The estimate is the job's time as the clone measured it, within a quarter. Not
    // "inside [low, high]": that interval is the sampled batches' spread, and on a shared
    // machine a neighbour's burst slows a run of unsampled batches by a third (seen in CI:
    // nine of the fourteen at 160 ms where the six samples took 117 to 133), which no
    // sample of six can foresee. An estimator that forgets the pauses (1.9 s of ~4.4) or
    // counts the wrong number of batches is off by far more than a quarter.
    let estimate = f(&whole, "estimate_s");
    assert!(
        (estimate - measured).abs() <= 0.25 * measured,
        "estimate {estimate} s is not within a quarter of the measured {measured} s"
    );
    assert!(low <= estimate && estimate <= high, "{whole}");
    // 19 pauses of 100 ms are part of both.
    assert!(low >= 1.9, "{whole}");
    assert!(f(&whole, "wal_estimate_bytes") > 0.5e8, "{whole}");
    assert!(
        note.contains("All 20 batches ran on the clone: the whole job took "),
        "{note}"
    );
}

#[test]
fn batches_that_lock_the_table_and_walk_an_unindexed_key_are_findings() {
    let locking = "CREATE FUNCTION backfill(a bigint, b bigint) RETURNS bigint LANGUAGE plpgsql AS $$
BEGIN
  LOCK TABLE orders IN SHARE MODE;
  PERFORM 1;
  RETURN 0;
END $$;
-- preflight:batched
-- table: orders
-- key: total
-- batch_size: 100000
-- statement: SELECT backfill(:start, :end) FROM orders WHERE total >= :start AND total < :end LIMIT 1
";
    let (code, note, report) = rehearse_files_configured(
        SEED,
        &[("0001_locking_backfill.sql", locking)],
        "",
        "findings: {batch_ms: 1}\n",
    );
    assert_eq!(code, Some(0), "{note}");
    let m = &report["databases"][0]["migrations"][0];
    let ids: Vec<&str> = m["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap())
        .collect();
    for id in ["PF-B02", "PF-B03", "PF-B04"] {
        assert!(ids.contains(&id), "{id} missing: {ids:?}\n{m}");
    }
    assert!(note.contains("[PF-B03]"), "{note}");
}

#[test]
fn a_declaration_that_is_not_one_statement_stops_the_run() {
    let root = tempfile::tempdir().unwrap();
    let bad = BACKFILL.replace("UPDATE orders", "DROP TABLE orders; UPDATE orders");
    let repo = repo_with_migrations(root.path(), &[], &[("0001_bad.sql", &bad)]);
    let config = builtin_config(root.path(), SEED);
    let out = print_only_run(&repo, &config, &root.path().join("artifacts"));
    assert_eq!(out.status.code(), Some(6), "refused: {}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(
            "db/migrations/0001_bad.sql: the preflight:batched statement is refused: it is not one statement"
        ),
        "{}",
        text(&out)
    );
    // The MR's author hears which file and why.
    let note = String::from_utf8_lossy(&out.stdout);
    assert!(
        note.contains("`db/migrations/0001_bad.sql` has a `preflight:batched` declaration that cannot be used"),
        "{note}"
    );
    assert_never_cloned(&root.path().join("engine"));
}
