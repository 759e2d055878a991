//! Queries the MR declares, planned before and after its migrations through
//! `preflight run`: one in the MR description whose index the migration drops (a new
//! sequential scan, slower: PF-Q01, PF-Q02), one an added index speeds up (improved),
//! one from the configured queries file with a sample parameter (unchanged), and one
//! that reads a column the migration drops (PF-Q04). The note shows the queries
//! normalized, never their literals; the full plans are in the full report. A declared
//! statement that is not a query stops the run before any clone is made.

mod common;

use common::*;

const SEED: &str = "CREATE TABLE orders (id bigint PRIMARY KEY, total int NOT NULL, account int NOT NULL, note text);
INSERT INTO orders SELECT g, g % 1000, g % 5000, 'n' FROM generate_series(1, 200000) g;
CREATE INDEX orders_total_idx ON orders (total);
ANALYZE orders;";

const DESCRIPTION: &str = "Reworks the orders indexes.

## Preflight queries

```sql
SELECT id FROM orders WHERE total = 42;
SELECT count(*) FROM orders WHERE account = 7;
SELECT note FROM orders WHERE id = 3;
```
";

fn run(description: &str) -> (tempfile::TempDir, std::process::Output) {
    let root = tempfile::tempdir().unwrap();
    let files = [
        (
            "db/migrations/0001_drop_total_idx.sql",
            "DROP INDEX orders_total_idx;\n",
        ),
        (
            "db/migrations/0002_account_idx.sql",
            "CREATE INDEX orders_account_idx ON orders (account);\n",
        ),
        (
            "db/migrations/0003_drop_note.sql",
            "ALTER TABLE orders DROP COLUMN note;\n",
        ),
        ("db/queries.sql", "SELECT total FROM orders WHERE id = $1\n"),
    ]
    .map(|(p, t)| (p.to_string(), t.to_string()));
    let repo = repo_with_files(root.path(), &[], &files);
    let config = builtin_config_with(
        root.path(),
        SEED,
        "queries: {file: db/queries.sql, params: ['5']}",
    );
    let env = vec![
        ("PREFLIGHT_LOCAL_CHECKOUT", repo.display().to_string()),
        ("PREFLIGHT_CONFIG", config.display().to_string()),
        (
            "PREFLIGHT_ARTIFACTS_DIR",
            root.path().join("artifacts").display().to_string(),
        ),
        ("CI_MERGE_REQUEST_DESCRIPTION", description.to_string()),
    ];
    let out = preflight(&env, &["run", "--print-only", "--all-migrations"]);
    (root, out)
}

#[test]
fn plans_before_and_after_show_a_lost_index_a_new_one_and_a_broken_query() {
    let (root, out) = run(DESCRIPTION);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let report: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root.path().join("artifacts/report.json")).unwrap(),
    )
    .unwrap();
    let queries = report["databases"][0]["queries"].as_array().unwrap();
    assert_eq!(queries.len(), 4, "{queries:?}");
    let ids = |q: &serde_json::Value| -> Vec<String> {
        q["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["id"].as_str().unwrap().to_string())
            .collect()
    };
    let node_types = |p: &serde_json::Value| -> Vec<String> {
        p["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["node_type"].as_str().unwrap().to_string())
            .collect()
    };

    let lost = &queries[0];
    assert_eq!(lost["verdict"], "regressed", "{lost}");
    assert_eq!(ids(lost), ["PF-Q01", "PF-Q02"], "{lost}");
    assert!(
        !node_types(&lost["before"]).contains(&"Seq Scan".to_string()),
        "{lost}"
    );
    assert!(
        node_types(&lost["after"]).contains(&"Seq Scan".to_string()),
        "{lost}"
    );

    let gained = &queries[1];
    assert_eq!(gained["verdict"], "improved", "{gained}");
    assert!(ids(gained).is_empty(), "{gained}");
    let before_ms = gained["before"]["execution_ms"].as_f64().unwrap();
    let after_ms = gained["after"]["execution_ms"].as_f64().unwrap();
    assert!(after_ms * 2.0 < before_ms, "{gained}");

    let broken = &queries[2];
    assert_eq!(broken["verdict"], "broke", "{broken}");
    assert_eq!(broken["after"]["result"], "failed", "{broken}");
    assert_eq!(broken["after"]["sqlstate"], "42703", "{broken}");
    assert_eq!(ids(broken), ["PF-Q04"], "{broken}");

    let from_file = &queries[3];
    assert_eq!(
        from_file["query"]["origin"], "db/queries.sql",
        "{from_file}"
    );
    assert_eq!(from_file["verdict"], "unchanged", "{from_file}");
    assert_eq!(from_file["before"]["result"], "planned", "{from_file}");

    // The note: normalized text, the shapes with the names the MR spells, the verdicts.
    let note = String::from_utf8_lossy(&out.stdout);
    let row = |n: usize| {
        note.lines()
            .find(|l| l.starts_with(&format!("| {n}: ")))
            .unwrap_or_else(|| panic!("no row for query {n}: {note}"))
            .to_string()
    };
    let first = row(1);
    assert!(
        first.contains("`SELECT id FROM orders WHERE total = $1`"),
        "{first}"
    );
    assert!(!first.contains("42"), "{first}");
    assert!(
        first.contains("Index Scan using orders_total_idx on orders")
            || first.contains("Bitmap Index Scan using orders_total_idx"),
        "{first}"
    );
    assert!(first.contains("Seq Scan on orders"), "{first}");
    assert!(first.contains(":warning: regressed"), "{first}");
    assert!(row(2).contains(":white_check_mark: improved"), "{}", row(2));
    assert!(row(3).contains("`42703`"), "{}", row(3));
    assert!(row(3).contains(":x: fails after"), "{}", row(3));
    assert!(note.contains("[PF-Q01]"), "{note}");
    assert!(note.contains("**Declared queries:**"), "{note}");
    assert!(!note.contains("withheld"), "{note}");

    let full = std::fs::read_to_string(root.path().join("artifacts/report.md")).unwrap();
    assert!(
        full.contains("### Declared query 1 (the MR description): regressed"),
        "{full}"
    );
    assert!(full.contains("\"Node Type\": \"Seq Scan\""), "{full}");
}

#[test]
fn a_declared_statement_that_is_not_a_query_is_refused_before_any_clone_and_its_author_told() {
    let (root, out) = run("## Preflight queries\n```sql\nDROP TABLE orders;\n```\n");
    assert_eq!(out.status.code(), Some(6), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("query 1 in the MR description is refused: only SELECT, INSERT, UPDATE and DELETE are planned"),
        "{stderr}"
    );
    let note = String::from_utf8_lossy(&out.stdout);
    assert!(
        note.contains("The merge request's description declares a query preflight does not plan"),
        "{note}"
    );
    assert_never_cloned(&root.path().join("engine"));
}
