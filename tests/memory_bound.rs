//! The job's memory and artifacts do not grow with the number of statements a
//! migration sends (issue 25): every statement is traced and checked, the report lists
//! at most 2,000 of them per migration and counts the rest, and a finding past the cap
//! still points at its own statement and line.

mod common;

use common::*;

/// `n` one-line inserts of the same value, one per line.
fn inserts(n: usize) -> String {
    "INSERT INTO t VALUES (1);\n".repeat(n)
}

fn peak_kib(log: &str) -> u64 {
    log.lines()
        .rev()
        .find_map(|l| l.strip_prefix("preflight: peak memory "))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
        .unwrap_or_else(|| panic!("no peak memory line:\n{log}"))
}

fn size_of(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            match e.metadata().unwrap().is_dir() {
                true => size_of(&e.path()),
                false => e.metadata().unwrap().len(),
            }
        })
        .sum()
}

#[test]
fn two_hundred_thousand_statements_keep_the_job_under_200_mib_and_its_artifacts_under_50_mb() {
    let root = tempfile::tempdir().unwrap();
    let repo = repo_with_migrations(
        root.path(),
        &[],
        &[("0001_many_inserts.sql", &inserts(200_000))],
    );
    let config = builtin_config(root.path(), "CREATE TABLE t (id int);");
    // 200,000 round trips through psql and the bridge take a minute or two here.
    let yaml = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        yaml.replace("migration_timeout: 60s", "migration_timeout: 20m"),
    )
    .unwrap();
    let artifacts = root.path().join("artifacts");
    let out = print_only_run(&repo, &config, &artifacts);
    let log = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let note = String::from_utf8_lossy(&out.stdout);
    assert!(note.contains("all migrations succeeded"), "{note}");
    assert!(
        note.contains("| 200,000 |"),
        "every insert is counted: {note}"
    );
    assert!(
        note.contains("200,000 other statements are not drawn"),
        "the chart says what it left out: {note}"
    );
    assert!(!note.contains("withheld"), "{note}");

    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(artifacts.join("report.json")).unwrap())
            .unwrap();
    let trace = &report["databases"][0]["migrations"][0]["trace"];
    let listed = trace["statements"].as_array().unwrap().len();
    assert_eq!(listed, 2_000, "the report lists the cap");
    assert_eq!(
        trace["elided"]["statements"], 198_000,
        "{}",
        trace["elided"]
    );
    assert_eq!(trace["elided"]["rows"], 198_000, "{}", trace["elided"]);
    let full = std::fs::read_to_string(artifacts.join("report.md")).unwrap();
    assert!(
        full.contains("The other 198000 are counted, not listed"),
        "the full report says what it left out"
    );

    let peak_mib = peak_kib(&log) as f64 / 1024.0;
    let artifacts_mb = size_of(&artifacts) as f64 / 1e6;
    eprintln!("200,000 statements: peak memory {peak_mib:.1} MiB, artifacts {artifacts_mb:.1} MB");
    assert!(peak_mib < 200.0, "peak memory {peak_mib:.1} MiB");
    assert!(artifacts_mb < 50.0, "artifacts {artifacts_mb:.1} MB");
}

#[test]
fn a_finding_past_the_cap_points_at_its_own_statement_among_identical_ones() {
    // 2,500 identical inserts (2,000 recorded, then folded), then one more that is slow
    // and an index build that blocks writes.
    let file = format!(
        "{}INSERT INTO t SELECT 1 FROM pg_sleep(0.3);\nCREATE INDEX t_id ON t (id);\n",
        inserts(2_500)
    );
    let (code, note, report) = rehearse_files_configured(
        "CREATE TABLE t (id int);",
        &[("0001_inserts_then_index.sql", &file)],
        "",
        "findings: {statement_ms: 200}\n",
    );
    assert_eq!(code, Some(0), "{note}");
    let m = &report["databases"][0]["migrations"][0];
    // Where each finding of `id` points (statement number, line). On a loaded machine a
    // plain insert can also pass statement_ms and get a PF-D03 of its own.
    let at = |id: &str| -> Vec<(serde_json::Value, serde_json::Value)> {
        m["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["id"] == id)
            .map(|f| {
                (
                    f["statement"]["number"].clone(),
                    f["statement"]["line"].clone(),
                )
            })
            .collect()
    };
    assert_eq!(
        at("PF-I01"),
        [(2_502.into(), 2_502.into())],
        "{}",
        m["findings"]
    );
    assert!(
        at("PF-D03").contains(&(2_501.into(), 2_501.into())),
        "{}",
        m["findings"]
    );
    // Positions in a long file are the MR's own, not data: the gate lets them through.
    assert!(note.contains("statement 2502 (CREATE INDEX)"), "{note}");
    assert!(note.contains("0001_inserts_then_index.sql:2502"), "{note}");
    assert!(!note.contains("withheld"), "{note}");
}

#[test]
fn the_memory_benchmark_reports_peak_and_artifacts() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("memory.json");
    let out = preflight(
        &[],
        &[
            "bench",
            "memory",
            "--statements",
            "3000",
            "--json",
            json.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("| 3000 | 0 |"), "{stdout}");
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(r["statements"], 3000);
    assert!(r["peak_rss_bytes"].as_u64().unwrap() > 1 << 20, "{r}");
    assert!(r["artifacts_bytes"].as_u64().unwrap() > 1000, "{r}");
    assert_eq!(r["largest_artifact"], "report.json", "{r}");
}
