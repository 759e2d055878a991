//! The JUnit and Code Quality reports of a real run (built-in engine, real box): one
//! test case per migration with its file and runtime, the failed migration a failure
//! with its SQLSTATE and condition name, an `error` finding a failure, a `warning`
//! finding in the case's output; Code Quality issues with GitLab's documented fields,
//! the migration's path and the line that names the object, stable fingerprints.

mod common;

use common::*;
use serde_json::Value;

const SEED: &str = "CREATE TABLE orders (id bigint PRIMARY KEY, total int, email text);
INSERT INTO orders SELECT g, g % 100, 'same' FROM generate_series(1, 3000) g;";

const HEAD: &[(&str, &str)] = &[
    (
        "0001_index_orders_total.sql",
        "-- an index\nSET lock_timeout = '2s';\nCREATE INDEX orders_total_idx ON orders (total);",
    ),
    (
        "0002_unique_email.sql",
        "SET lock_timeout = '2s';\nCREATE UNIQUE INDEX CONCURRENTLY orders_email_key ON orders (email);",
    ),
];

/// `xml` checked by xmllint against `tests/schemas/junit.xsd`: Ok, or what it said.
fn validate_junit(xml: &str) -> Result<(), String> {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("junit.xml");
    std::fs::write(&file, xml).unwrap();
    let schema = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/schemas/junit.xsd");
    let out = std::process::Command::new("xmllint")
        .args(["--noout", "--schema", schema])
        .arg(&file)
        .output()
        .expect("xmllint runs (ops/dev-setup.sh installs libxml2-utils)");
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

#[test]
fn the_junit_schema_refuses_what_gitlab_could_not_read() {
    let case = |attrs: &str, body: &str| {
        format!("<testsuites><testsuite name=\"s\" tests=\"1\"><testcase {attrs}>{body}</testcase></testsuite></testsuites>")
    };
    let good = r#"name="m" classname="preflight.main" time="0.25""#;
    validate_junit(&case(
        good,
        "<failure type=\"PF-I01\" message=\"m\">x</failure>",
    ))
    .unwrap();
    for bad in [
        case(r#"name="m" time="0.25""#, ""),
        case(r#"name="m" classname="c" time="1.2 s""#, ""),
        case(good, "<failure/><skipped/>"),
        case(good, "<warning/>"),
    ] {
        assert!(validate_junit(&bad).is_err(), "accepted: {bad}");
    }
}

fn run(root: &std::path::Path) -> (String, Value) {
    let repo = repo_with_migrations(root, &[], HEAD);
    let config = builtin_config(root, SEED);
    let artifacts = root.join("artifacts");
    let out = print_only_run(&repo, &config, &artifacts);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let junit = std::fs::read_to_string(artifacts.join("junit.xml")).unwrap();
    let cq = std::fs::read_to_string(artifacts.join("gl-code-quality-report.json")).unwrap();
    (junit, serde_json::from_str(&cq).unwrap())
}

#[test]
fn junit_and_code_quality_show_each_migration_and_finding_where_gitlab_looks() {
    let root = tempfile::tempdir().unwrap();
    let (junit, cq) = run(root.path());

    validate_junit(&junit).unwrap_or_else(|e| panic!("{e}\n{junit}"));
    let doc = roxmltree::Document::parse(&junit).unwrap_or_else(|e| panic!("{e}\n{junit}"));
    let suites = doc.root_element();
    assert_eq!(suites.tag_name().name(), "testsuites");
    assert_eq!(suites.attribute("tests"), Some("2"), "{junit}");
    assert_eq!(suites.attribute("failures"), Some("2"), "{junit}");
    let cases: Vec<_> = doc
        .descendants()
        .filter(|n| n.has_tag_name("testcase"))
        .collect();
    assert_eq!(cases.len(), 2);
    let index = cases[0];
    assert_eq!(index.attribute("name"), Some("0001_index_orders_total"));
    assert_eq!(
        index.attribute("file"),
        Some("db/migrations/0001_index_orders_total.sql")
    );
    assert!(index.attribute("time").unwrap().parse::<f64>().unwrap() > 0.0);
    let failure = index
        .children()
        .find(|n| n.has_tag_name("failure"))
        .unwrap();
    assert_eq!(failure.attribute("type"), Some("PF-I01"), "{junit}");
    assert!(
        failure
            .text()
            .unwrap()
            .contains("CREATE INDEX CONCURRENTLY"),
        "{junit}"
    );

    let unique = cases[1];
    let failure = unique
        .children()
        .find(|n| n.has_tag_name("failure"))
        .unwrap();
    assert_eq!(failure.attribute("type"), Some("failure"));
    assert!(
        failure
            .attribute("message")
            .unwrap()
            .contains("0002_unique_email failed with SQLSTATE 23505 (unique_violation)"),
        "{junit}"
    );

    let issues = cq.as_array().unwrap();
    assert!(!issues.is_empty());
    let mut fingerprints = std::collections::BTreeSet::new();
    for i in issues {
        for field in ["description", "check_name", "fingerprint", "severity"] {
            assert!(i[field].is_string(), "{field}: {i}");
        }
        assert!(["info", "minor", "major", "critical", "blocker"]
            .contains(&i["severity"].as_str().unwrap()));
        assert!(i["location"]["path"]
            .as_str()
            .unwrap()
            .starts_with("db/migrations/"));
        assert!(i["location"]["lines"]["begin"].as_u64().unwrap() >= 1);
        assert!(fingerprints.insert(i["fingerprint"].as_str().unwrap().to_string()));
    }
    let i01 = issues.iter().find(|i| i["check_name"] == "PF-I01").unwrap();
    assert_eq!(i01["severity"], "critical");
    assert_eq!(
        i01["location"]["path"],
        "db/migrations/0001_index_orders_total.sql"
    );
    assert_eq!(
        i01["location"]["lines"]["begin"], 3,
        "the line naming the index"
    );

    // A second run of the same MR gives the same fingerprints (GitLab compares them).
    let again = tempfile::tempdir().unwrap();
    let (_, cq2) = run(again.path());
    let prints = |v: &Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|i| i["fingerprint"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(prints(&cq), prints(&cq2));
}
