//! Command mode with real tools, through `preflight run`: the example projects in
//! `examples/` (alembic and Django, installed from Debian's packages into the tools image
//! `ops/dev-setup.sh` builds) run inside the box, one new migration at a time, against
//! the clone through the bridge. Each new migration gets its own row, statements and
//! findings, and its way back (the tool's own downgrade) is rehearsed too; migrations
//! production already has (the tool's bookkeeping in the seed, the files at the merge
//! base) are not run again.

mod common;

use common::*;
use serde_json::Value;

const IMAGE: &str = "preflight-box-tools:bookworm";

const SEED: &str = "CREATE TABLE accounts (id bigint PRIMARY KEY, email text NOT NULL);
INSERT INTO accounts SELECT g, 'user' || g || '@example.com' FROM generate_series(1, 2000) g;
CREATE TABLE orders (id bigint PRIMARY KEY, account_id bigint NOT NULL REFERENCES accounts,
                     created_at timestamptz NOT NULL);
INSERT INTO orders SELECT g, 1 + g % 2000, now() FROM generate_series(1, 5000) g;";

/// The example project `name` (every file under `examples/<name>`), as repository files.
fn example(name: &str) -> Vec<(String, String)> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(name);
    let mut files = Vec::new();
    let mut pending = vec![root.clone()];
    while let Some(dir) = pending.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let path = e.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else {
                let rel = path.strip_prefix(&root).unwrap().display().to_string();
                files.push((rel, std::fs::read_to_string(&path).unwrap()));
            }
        }
    }
    files
}

/// Runs the MR (`base` files on main, `head` files added) with the database configured
/// as `database` (inside `{name: main, db_name: app, ...}`) on `seed`.
fn rehearse(
    seed: &str,
    base: &[(String, String)],
    head: &[(String, String)],
    database: &str,
) -> (Option<i32>, String, Value) {
    let root = tempfile::tempdir().unwrap();
    let repo = repo_with_files(root.path(), base, head);
    let config = builtin_config(root.path(), seed);
    let yaml = std::fs::read_to_string(&config)
        .unwrap()
        .replace("migrations: db/migrations}", &format!("{database}}}"));
    std::fs::write(&config, yaml).unwrap();
    let artifacts = root.path().join("artifacts");
    // What the MR adds: its head against the merge base, as in an MR pipeline.
    let env = vec![
        ("PREFLIGHT_LOCAL_CHECKOUT", repo.display().to_string()),
        ("PREFLIGHT_CONFIG", config.display().to_string()),
        ("PREFLIGHT_ARTIFACTS_DIR", artifacts.display().to_string()),
        ("CI_MERGE_REQUEST_DIFF_BASE_SHA", rev_parse(&repo, "main")),
    ];
    let out = preflight(&env, &["run", "--print-only"]);
    let report = std::fs::read_to_string(artifacts.join("report.json"))
        .unwrap_or_else(|_| panic!("no report: {}", text(&out)));
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        serde_json::from_str(&report).unwrap(),
    )
}

fn rows(report: &Value) -> Vec<(String, String)> {
    migration_pairs(report, "name", "outcome")
}

fn has_finding(m: &Value, id: &str) -> bool {
    m["findings"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["id"] == id)
}

#[test]
fn alembic_applies_each_new_revision_in_its_chain_order_and_each_is_observed() {
    let (code, note, report) = rehearse(
        SEED,
        &[],
        &example("alembic"),
        &format!(
            "migrations: migrations/versions, \
             command: {{tool: alembic, image: '{IMAGE}', project: .}}"
        ),
    );
    assert_eq!(code, Some(0), "{note}\n{report}");
    assert_eq!(
        rows(&report),
        [
            (
                "a1b2c3d4e5f6_add_account_nickname".to_string(),
                "succeeded".to_string()
            ),
            (
                "b2c3d4e5f6a7_index_orders_by_account".to_string(),
                "succeeded".to_string()
            ),
        ]
    );
    let index = &report["databases"][0]["migrations"][1];
    assert!(has_finding(index, "PF-I01"), "{index}");
    // Each revision went back (alembic downgrade) to the schema before it, and up again.
    for m in report["databases"][0]["migrations"].as_array().unwrap() {
        let back = &m["way_back"];
        assert_eq!(back["down"]["outcome"], "succeeded", "{back}");
        assert_eq!(back["differences"], serde_json::json!([]), "{back}");
        assert_eq!(back["up_again"]["outcome"], "succeeded", "{back}");
    }
    assert!(
        traced(&index["way_back"]["down"], "text")
            .iter()
            .any(|t| t.contains("DROP INDEX orders_account_id_idx")),
        "{index}"
    );
    let texts = traced(index, "text");
    assert!(
        texts
            .iter()
            .any(|t| t.contains("CREATE INDEX orders_account_id_idx")),
        "{texts:?}"
    );
    // The bookkeeping moved with the step: alembic updated its own table in it.
    assert!(
        texts.iter().any(|t| t.contains("alembic_version")),
        "{texts:?}"
    );
    assert!(
        note.contains("Each migration ran through the project's own alembic"),
        "{note}"
    );
    assert!(
        note.contains("`b2c3d4e5f6a7_index_orders_by_account`"),
        "{note}"
    );
    assert!(note.contains("PF-I01"), "{note}");
}

#[test]
fn django_runs_only_the_migrations_production_lacks() {
    let project = example("django");
    let (base, head): (Vec<_>, Vec<_>) = project
        .into_iter()
        .partition(|(path, _)| !path.ends_with("0002_coupon_expires_at.py"));
    let seed = format!(
        "{SEED}
CREATE TABLE shop_coupon (id bigserial PRIMARY KEY, code text NOT NULL UNIQUE,
                          percent_off integer NOT NULL);
CREATE TABLE django_migrations (id bigserial PRIMARY KEY, app varchar(255) NOT NULL,
                                name varchar(255) NOT NULL, applied timestamptz NOT NULL);
INSERT INTO django_migrations (app, name, applied) VALUES ('shop', '0001_coupon', now());"
    );
    let (code, note, report) = rehearse(
        &seed,
        &base,
        &head,
        &format!(
            "migrations: shop/migrations, \
             command: {{tool: django, image: '{IMAGE}', project: ., app: shop}}"
        ),
    );
    assert_eq!(code, Some(0), "{note}\n{report}");
    assert_eq!(
        rows(&report),
        [(
            "0002_coupon_expires_at".to_string(),
            "succeeded".to_string()
        )]
    );
    let m = &report["databases"][0]["migrations"][0];
    assert!(has_finding(m, "PF-I01"), "{m}");
    // migrate shop 0001_coupon took it back to production's schema, then up again.
    assert_eq!(m["way_back"]["differences"], serde_json::json!([]), "{m}");
    assert_eq!(m["way_back"]["up_again"]["outcome"], "succeeded", "{m}");
    let kinds = traced(m, "kind");
    assert!(
        kinds.iter().any(|k| k == "ALTER TABLE") && kinds.iter().any(|k| k == "CREATE INDEX"),
        "{kinds:?}"
    );
    assert!(
        note.contains("Each migration ran through the project's own Django"),
        "{note}"
    );
}

/// New revisions the tool could not apply in one line, or a file it cannot name, are the
/// MR's to fix: refused before anything runs (exit 6), and the note tells the author
/// which file or directory and why, since the protected job is not theirs to read.
#[test]
fn revisions_that_branch_or_have_no_id_are_refused_and_the_author_told() {
    let database = format!(
        "migrations: migrations/versions, command: {{tool: alembic, image: '{IMAGE}', project: .}}"
    );
    for (file, text, said, rule) in [
        (
            "migrations/versions/c3d4e5f6a7b8_other_branch.py",
            "revision = \"c3d4e5f6a7b8\"\ndown_revision = \"a1b2c3d4e5f6\"\n",
            "`migrations/versions` holds new revisions that do not follow one another",
            "history",
        ),
        (
            "migrations/versions/zz_no_id.py",
            "down_revision = \"b2c3d4e5f6a7\"\n",
            "`migrations/versions/zz_no_id.py` is not a migration its tool can name",
            "unnamed",
        ),
    ] {
        let mut files = example("alembic");
        files.push((file.into(), text.into()));
        let (code, note, report) = rehearse(SEED, &[], &files, &database);
        assert_eq!(code, Some(6), "{note}\n{report}");
        assert!(note.contains(said), "{note}");
        assert_eq!(report["refused"][0]["rule"], rule, "{report}");
        assert_eq!(report["ending"], "refused", "{report}");
    }
}
