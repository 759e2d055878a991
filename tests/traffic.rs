//! What the running application would have felt, through `preflight run` with generated
//! traffic on: a migration that holds ACCESS EXCLUSIVE on `orders` for a second in one
//! transaction makes the reads and writes sent to `orders` wait (reported, PF-L04), and
//! one that only sleeps makes nothing wait. The generator's own statements never show in
//! the migration's statement statistics.

mod common;

use common::*;

const SEED: &str = "CREATE TABLE orders (id bigint PRIMARY KEY, total int);
INSERT INTO orders SELECT g, g % 100 FROM generate_series(1, 50000) g;";

#[test]
fn a_lock_held_for_a_second_makes_the_traffic_wait_and_a_sleep_does_not() {
    let (code, note, report) = rehearse_files_configured(
        SEED,
        &[
            (
                "2024-01-01-000000_note/up.sql",
                "ALTER TABLE orders ADD COLUMN note text;\nSELECT pg_sleep(1);\n",
            ),
            ("2024-01-02-000000_wait/up.sql", "SELECT pg_sleep(1);\n"),
        ],
        "",
        "traffic: {rate_per_second: 200, connections: 8, timeout: 300ms}\n\
         findings: {traffic_wait_ms: 800}\n",
    );
    assert_eq!(code, Some(0), "{note}");

    let blocking = &report["databases"][0]["migrations"][0];
    let t = &blocking["traffic"];
    assert_eq!(t["tables"], serde_json::json!(["public.orders"]), "{t}");
    assert!(t["sent"].as_u64().unwrap() >= 150, "{t}");
    assert!(t["waited"].as_u64().unwrap() >= 50, "{t}");
    assert!(t["max_ms"].as_f64().unwrap() >= 900.0, "{t}");
    assert!(t["over_timeout"].as_u64().unwrap() >= 20, "{t}");
    assert_eq!(t["errors"], 0, "{t}");
    assert!(
        blocking["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["id"] == "PF-L04"),
        "{blocking}"
    );

    let quiet = &report["databases"][0]["migrations"][1];
    let t = &quiet["traffic"];
    assert!(t["sent"].as_u64().unwrap() >= 150, "{t}");
    // A busy machine slows some statements down; a lock held for a second is another thing.
    assert!(t["p99_ms"].as_f64().unwrap() < 400.0, "{t}");
    assert!(t["max_ms"].as_f64().unwrap() < 800.0, "{t}");
    assert!(
        !quiet["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["id"] == "PF-L04"),
        "{quiet}"
    );
    // The generator's statements are not the migration's.
    let stats = quiet["statements"].to_string();
    assert!(!stats.contains("preflight traffic"), "{stats}");

    assert!(note.contains("**Under generated traffic.**"), "{note}");
    assert!(
        note.contains("| `2024-01-01-000000_note` | 200 |"),
        "{note}"
    );
    assert!(note.contains("PF-L04"), "{note}");
}
