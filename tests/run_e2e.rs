//! `preflight run` end to end, as the pipeline runs it: a git checkout whose MR adds two
//! migrations, the built-in engine with real PostgreSQL, a real Docker box, and the
//! GitLab double. Checks the posted note, the edit in place on a second run, that
//! production data never reaches GitLab, and that nothing is left behind.

mod common;

use common::gitlab_double::GitlabDouble;
use common::*;

const CANARY: &str = "canary-7f3a9c@secret.example";

fn seed() -> String {
    format!(
        "CREATE TABLE customers (id bigint PRIMARY KEY, email text NOT NULL, note text);
         INSERT INTO customers SELECT g, 'c' || g || '@example.com', 'ok' FROM generate_series(1, 20000) g;
         INSERT INTO customers VALUES (20001, '{CANARY}', 'x'), (20002, '{CANARY}', 'y');"
    )
}

const BASE: &[(&str, &str)] = &[(
    "0001_create_customers.sql",
    "CREATE TABLE customers (id bigint PRIMARY KEY, email text NOT NULL, note text);",
)];

const HEAD: &[(&str, &str)] = &[
    (
        "0002_index_customers_note.sql",
        "BEGIN;\nCREATE INDEX customers_note_idx ON customers (note);\nSELECT pg_sleep(0.3);\nCOMMIT;",
    ),
    (
        "0003_unique_customer_email.sql",
        "ALTER TABLE customers ADD CONSTRAINT customers_email_key UNIQUE (email);",
    ),
];

fn unescape(md: &str) -> String {
    md.replace('\\', "")
}

#[tokio::test(flavor = "multi_thread")]
async fn run_posts_the_summary_then_edits_it_in_place_and_leaves_nothing() {
    let root = tempfile::tempdir().unwrap();
    let repo = repo_with_migrations(root.path(), BASE, HEAD);
    let config = builtin_config(root.path(), &seed());
    let gl = GitlabDouble::start("glpat-e2e-secret", "42", 7).await;
    let artifacts = root.path().join("artifacts");
    let mut env = mr_env(&gl.url, "glpat-e2e-secret", &repo, &config, &artifacts);
    env.push(("CI_JOB_URL", format!("{}/db/preflight/-/jobs/99", gl.url)));

    let first = preflight(&env, &["run"]);
    assert_eq!(
        first.status.code(),
        Some(1),
        "a migration fails: {}",
        text(&first)
    );
    let run1 = run_id(&artifacts);

    let note_posts = |requests: &[common::gitlab_double::Recorded]| {
        requests
            .iter()
            .filter(|r| r.method == "POST" && r.path.ends_with("/notes"))
            .count()
    };
    assert_eq!(note_posts(&gl.requests()), 1, "one note posted");
    let notes = gl.notes();
    assert_eq!(notes.len(), 1);
    let note = unescape(&notes[0].body);
    assert!(note.contains("<!-- preflight:summary -->"), "{note}");
    assert!(
        note.contains("0002_index_customers_note` |"),
        "row for the clean migration: {note}"
    );
    assert!(note.contains("success"), "{note}");
    assert!(
        note.contains("0003_unique_customer_email` |"),
        "row for the failing one: {note}"
    );
    assert!(
        note.contains("`23505` unique_violation"),
        "SQLSTATE and condition: {note}"
    );
    assert!(
        !note.contains("0001_create_customers"),
        "migrations at the merge base are not rehearsed: {note}"
    );
    assert!(
        note.lines()
            .any(|l| l.starts_with("| `customers` | SHARE | writes |")
                && l.ends_with("| `0002_index_customers_note` |")),
        "the write-blocking lock: {note}"
    );
    assert!(note.contains("jobs/99"), "links the protected job: {note}");

    // The full report has the server's DETAIL (so the canary was there to leak) ...
    let full = std::fs::read_to_string(artifacts.join("report.md")).unwrap();
    assert!(
        full.contains(CANARY),
        "the full report keeps the server's DETAIL"
    );
    assert!(artifacts
        .join("main/002_0003_unique_customer_email.log")
        .exists());
    // ... and nothing that reached GitLab does.
    for r in gl.requests() {
        assert!(
            !r.body.contains("canary-7f3a9c"),
            "production data reached GitLab: {r:?}"
        );
        assert!(
            !r.body.contains("glpat-e2e-secret"),
            "the token reached a request body"
        );
    }
    assert!(!String::from_utf8_lossy(&first.stdout).contains("glpat-e2e-secret"));
    assert!(!String::from_utf8_lossy(&first.stderr).contains("glpat-e2e-secret"));
    assert_nothing_left(&run1, &root.path().join("engine")).await;

    // Second run: the same note is edited, none added.
    let second = preflight(&env, &["run"]);
    assert_eq!(second.status.code(), Some(1), "{}", text(&second));
    let run2 = run_id(&artifacts);
    assert_ne!(run1, run2);
    let requests = gl.requests();
    assert_eq!(note_posts(&requests), 1, "no second note");
    let puts: Vec<_> = requests
        .iter()
        .filter(|r| r.method == "PUT" && r.path.contains("/notes/"))
        .collect();
    assert_eq!(
        puts.len(),
        3,
        "first run: placeholder to result; second: placeholder, result"
    );
    for put in puts {
        assert!(
            put.path.ends_with(&format!("/notes/{}", notes[0].id)),
            "{put:?}"
        );
    }
    assert_eq!(gl.notes().len(), 1);
    assert_nothing_left(&run2, &root.path().join("engine")).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_mr_without_new_migrations_gets_a_short_note_and_succeeds() {
    let root = tempfile::tempdir().unwrap();
    let repo = repo_with_migrations(root.path(), BASE, &[]);
    let config = builtin_config(root.path(), &seed());
    let gl = GitlabDouble::start("tok", "42", 7).await;
    let mut env = mr_env(&gl.url, "tok", &repo, &config, &root.path().join("a"));
    // A merge base given as a commit (here a branch name git resolves) wins over the branch.
    env.push(("CI_MERGE_REQUEST_DIFF_BASE_SHA", "main".into()));
    let out = preflight(&env, &["run"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let notes = gl.notes();
    assert_eq!(notes.len(), 1);
    assert!(
        notes[0].body.contains("no new migrations"),
        "{}",
        notes[0].body
    );
    assert!(
        !root.path().join("engine").exists(),
        "no clone was made for nothing"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn through_the_api_on_an_existing_database_the_note_names_the_head_and_the_index() {
    let root = tempfile::tempdir().unwrap();
    let index =
        "CREATE INDEX customers_note_idx ON customers (note);\nCREATE SEQUENCE customers_seq;";
    let repo = repo_with_migrations(root.path(), BASE, &[("0002_index_note.sql", index)]);
    let (base, head) = (rev_parse(&repo, "main"), rev_parse(&repo, "HEAD"));
    // `postgres` is on every snapshot: it is used as it is, not created.
    let config = builtin_config(root.path(), &seed());
    let yaml = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, yaml.replace("db_name: app", "db_name: postgres")).unwrap();
    let gl = GitlabDouble::start("tok", "42", 7).await;
    gl.serve_repo(&repo, &head, &base);
    let artifacts = root.path().join("artifacts");
    let env = api_mode(mr_env(&gl.url, "tok", &repo, &config, &artifacts), &head);
    // The checkout is not needed: the job reads the MR through the API only.
    std::fs::rename(&repo, root.path().join("gone")).unwrap();
    gl.serve_repo(&root.path().join("gone"), &head, &base);

    let out = preflight(&env, &["run"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let note = gl.notes()[0].body.clone();
    assert!(note.contains("Migrations ran on a thin clone"), "{note}");
    assert!(
        note.contains(&head[..12]),
        "the footer names the head: {note}"
    );
    assert!(
        note.contains("CREATE INDEX `customers_note_idx` `customers`"),
        "{note}"
    );
    // preflight's own labels are never withheld by its own gate.
    assert!(note.contains("| CREATE SEQUENCE |"), "{note}");
    let paths: Vec<String> = gl.requests().into_iter().map(|r| r.path).collect();
    assert!(
        paths.iter().any(|p| p.ends_with("/merge_requests/7")),
        "{paths:?}"
    );
    assert!(paths.iter().any(|p| p.ends_with("/raw")), "{paths:?}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(artifacts.join("report.json")).unwrap())
            .unwrap();
    assert_eq!(report["head_sha"], head.as_str());
    assert_eq!(
        report["schema_version"], 2,
        "report.json says its schema version"
    );
    assert_eq!(report["base_sha"], base.as_str());
    assert_eq!(report["withheld"], serde_json::json!([]), "{report}");
    assert_no_box_or_run_dir(&run_id(&artifacts)).await;
    let clones = root.path().join("engine/pool-postgres/clones");
    assert_eq!(std::fs::read_dir(clones).unwrap().count(), 0);
}
