//! `preflight bench trace` as users run it, at a small size: it prints both cases with
//! their ratios, and its JSON has, per case, both relays' medians, the ratio, and proof
//! that the traced runs really traced (statements recorded) and that the index build's
//! lock was timed from outside on both relays.

use std::process::Command;

#[test]
fn bench_trace_prints_both_ratios_and_writes_the_documented_json() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("trace.json");
    let out = Command::new(env!("CARGO_BIN_EXE_preflight"))
        .args([
            "bench",
            "trace",
            "--rows",
            "300000",
            "--statements",
            "200",
            "--runs",
            "1",
        ])
        .arg("--json")
        .arg(&json)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("machine: "), "{stdout}");
    assert!(
        stdout.contains("ratio traced/plain, CREATE INDEX on 300000 rows: "),
        "{stdout}"
    );
    assert!(
        stdout.contains("ratio traced/plain, 200 statements (1 in 10 a schema change): "),
        "{stdout}"
    );

    let cases: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(cases.len(), 2, "{cases:?}");
    for c in &cases {
        for key in ["plain_median_s", "traced_median_s", "ratio"] {
            assert!(c[key].as_f64().unwrap() > 0.0, "{key} in {c}");
        }
    }
    let index = &cases[0];
    assert!(index["traced_statements"].as_u64().unwrap() >= 1, "{index}");
    for key in ["plain_lock_hold_median_s", "traced_lock_hold_median_s"] {
        let hold = index[key]
            .as_f64()
            .unwrap_or_else(|| panic!("no {key}: {index}"));
        assert!(
            hold > 0.0 && hold <= index["traced_median_s"].as_f64().unwrap() * 2.0,
            "{index}"
        );
    }
    assert_eq!(
        cases[1]["traced_statements"], 200,
        "every statement traced: {}",
        cases[1]
    );
}
