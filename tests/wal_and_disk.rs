//! What a migration costs production besides its time, through `preflight run`: the WAL
//! a table rewrite writes (and how far behind it puts replicas at the configured replay
//! rate, PF-W01), the extra disk it needs while the old and the new copy both exist, the
//! temporary files of an index build that spills its sort, and the whole MR's totals in
//! the note.

mod common;

use common::*;

/// `orders` is about 8.5 MiB.
const SEED: &str = "CREATE TABLE orders (id bigint PRIMARY KEY, total int NOT NULL);
INSERT INTO orders SELECT g, g % 1000 FROM generate_series(1, 200000) g;";

const MIB: i64 = 1024 * 1024;

#[test]
fn a_rewrite_reports_its_wal_its_replica_lag_and_both_copies_on_disk() {
    let (code, note, report) = rehearse_files_configured(
        SEED,
        &[
            (
                "2024-01-01-000000_widen/up.sql",
                "ALTER TABLE orders ALTER COLUMN total TYPE bigint;\n",
            ),
            (
                "2024-01-02-000000_index/metadata.toml",
                "run_in_transaction = false\n",
            ),
            (
                "2024-01-02-000000_index/up.sql",
                "SET maintenance_work_mem = '1MB';\nSET max_parallel_maintenance_workers = 0;\n\
                 CREATE INDEX orders_total_idx ON orders (total, id);\n",
            ),
        ],
        "",
        "findings: {replication_bytes_per_second: 1048576, replica_lag_s: 4}\n",
    );
    assert_eq!(code, Some(0), "{note}");
    let int = |m: &serde_json::Value, field: &str| m[field].as_i64().unwrap();

    let widen = &report["databases"][0]["migrations"][0];
    // The new copy is WAL-logged in full; the old one stays until the commit.
    assert!(int(widen, "wal_bytes") > 6 * MIB, "{widen}");
    assert!(int(widen, "peak_extra_bytes") > 6 * MIB, "{widen}");
    let grew = int(widen, "size_after") - int(widen, "size_before");
    assert!(int(widen, "peak_extra_bytes") > grew + 6 * MIB, "{widen}");
    let w01 = widen["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == "PF-W01")
        .unwrap_or_else(|| panic!("no PF-W01: {widen}"));
    // At 1 MiB per second, 6 MiB and more of WAL is more than the 4 s allowed.
    let lag = &w01["evidence"][1];
    assert_eq!(lag["measure"], "replicas behind", "{w01}");
    assert!(lag["value"].as_f64().unwrap() > 6.0, "{w01}");

    let index = &report["databases"][0]["migrations"][1];
    // 200,000 keys do not fit a 1 MB sort: it spills to temporary files.
    assert!(int(index, "temp_bytes") > MIB, "{index}");
    assert!(
        int(index, "peak_extra_bytes") >= int(index, "temp_bytes"),
        "{index}"
    );

    // The note: each migration's WAL with the replicas' lag, its peak disk, and the totals.
    let row = note
        .lines()
        .find(|l| l.starts_with("| `2024-01-01-000000_widen` |"))
        .unwrap_or_else(|| panic!("no row: {note}"));
    assert!(row.contains(" MiB (replicas "), "{row}");
    assert!(row.contains(" s behind) |"), "{row}");
    assert!(note.contains("| WAL written | Peak extra disk |"), "{note}");
    let totals = note
        .lines()
        .find(|l| l.starts_with("In all, the migrations take "))
        .unwrap_or_else(|| panic!("no totals: {note}"));
    assert!(
        totals.contains("which puts replicas replaying 1 MiB per second about"),
        "{totals}"
    );
    assert!(totals.contains("MiB of extra disk"), "{totals}");
}
