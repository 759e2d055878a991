//! `preflight bench clones` as users run it, at a small size: it prints the table and
//! writes the JSON array with the documented keys, for every backend this machine has.

use std::process::Command;

#[test]
fn bench_writes_the_documented_json() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("bench.json");
    let backends = match preflight::engine::btrfs_loop::available() {
        Ok(()) => "btrfs,copy",
        Err(reason) => {
            eprintln!("NOTE: btrfs backend unavailable here ({reason}); benchmarking copy only");
            "copy"
        }
    };
    let out = Command::new(env!("CARGO_BIN_EXE_preflight"))
        .args([
            "bench",
            "clones",
            "--sizes",
            "0.01",
            "--runs",
            "2",
            "--backends",
            backends,
        ])
        .arg("--copy-dir")
        .arg(dir.path().join("copy"))
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
    assert!(
        stdout.contains("| backend | op | size | runs | median s | max s |"),
        "{stdout}"
    );
    assert!(stdout.contains("machine: "), "{stdout}");

    let rows: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    for backend in backends.split(',') {
        for op in ["create", "reset", "create_concurrent_8"] {
            let row = rows
                .iter()
                .find(|r| r["backend"] == backend && r["op"] == op)
                .unwrap_or_else(|| panic!("no {backend} {op} row in {rows:?}"));
            let keys: Vec<&str> = row
                .as_object()
                .unwrap()
                .keys()
                .map(|k| k.as_str())
                .collect();
            assert_eq!(keys.len(), 6, "{row}");
            for key in ["backend", "op", "size_bytes", "runs", "median_s", "max_s"] {
                assert!(row.get(key).is_some(), "{row} lacks {key}");
            }
            let (median, max) = (
                row["median_s"].as_f64().unwrap(),
                row["max_s"].as_f64().unwrap(),
            );
            assert!(median > 0.0 && max >= median, "{row}");
            assert!(row["size_bytes"].as_u64().unwrap() > 10_000_000, "{row}");
        }
    }
    assert_eq!(
        rows.iter().find(|r| r["op"] == "create").unwrap()["runs"],
        2
    );
    assert_eq!(
        rows.iter()
            .find(|r| r["op"] == "create_concurrent_8")
            .unwrap()["runs"],
        8
    );
    // The scratch pools are gone.
    assert!(std::fs::read_dir(dir.path().join("copy"))
        .unwrap()
        .next()
        .is_none());
}
