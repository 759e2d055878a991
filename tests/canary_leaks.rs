//! The proof of the promise: random canaries planted in the clone's data in many shapes
//! (text, a unique column, jsonb, bytea, an enum label, a column default, a comment, a
//! table name), then adversarial migrations that try every way we know to carry them
//! out: exceptions and notices with data, constraint violations whose DETAIL shows the
//! row, invalid input syntax, objects named after data, DDL whose literal comes from
//! data, COMMENT ON, EXPLAIN, stdout and stderr, huge output, client_min_messages,
//! custom SQLSTATEs and error fields. Each runs through `preflight run` against a clone
//! engine service and the GitLab double. No canary may appear in any request GitLab
//! received, while the migrations' own names still do (the gate is not blanking
//! everything) and the canaries do reach the protected full report (the attacks ran).

mod common;

use common::engine::*;
use common::gitlab_double::GitlabDouble;
use common::*;
use std::path::Path;
use std::sync::Arc;

/// A fresh random canary: letters and digits, so no tokenizer splits it.
fn canary(shape: &str) -> String {
    use rand::Rng;
    let tail: String = rand::thread_rng()
        .sample_iter(&rand::distributions::Alphanumeric)
        .take(12)
        .map(|c| (c as char).to_ascii_lowercase())
        .collect();
    format!("cn{shape}{tail}")
}

struct Canaries {
    text: String,
    unique: String,
    json: String,
    bytea: String,
    label: String,
    default: String,
    comment: String,
    table: String,
}

impl Canaries {
    fn new() -> Self {
        Canaries {
            text: canary("tx"),
            unique: canary("uq"),
            json: canary("js"),
            bytea: canary("by"),
            label: canary("en"),
            default: canary("df"),
            comment: canary("cm"),
            table: canary("tb"),
        }
    }

    fn all(&self) -> Vec<&str> {
        vec![
            &self.text,
            &self.unique,
            &self.json,
            &self.bytea,
            &self.label,
            &self.default,
            &self.comment,
            &self.table,
        ]
    }

    fn seed(&self) -> String {
        let c = self;
        format!(
            "CREATE TYPE mood AS ENUM ('happy', '{label}');
             CREATE TABLE customers (
                 id int PRIMARY KEY, email text NOT NULL, note text, profile jsonb, blob bytea,
                 feeling mood NOT NULL DEFAULT 'happy', tag text DEFAULT '{default}');
             INSERT INTO customers (id, email, note, profile, blob)
             SELECT g, 'user' || g || '@example.com', 'ok', '{{}}', NULL FROM generate_series(2, 300) g;
             INSERT INTO customers (id, email, note, profile, blob, feeling) VALUES
                 (1, '{unique}', '{text}', '{{\"token\": \"{json}\"}}', convert_to('{bytea}', 'UTF8'), '{label}'),
                 (301, '{unique}', 'dup', '{{}}', NULL, 'happy');
             COMMENT ON TABLE customers IS '{comment}';
             CREATE TABLE \"{table}\" (id int);
             INSERT INTO \"{table}\" VALUES (1);",
            label = c.label,
            default = c.default,
            unique = c.unique,
            text = c.text,
            json = c.json,
            bytea = c.bytea,
            comment = c.comment,
            table = c.table,
        )
    }
}

/// Migrations that succeed and try to carry data out on the way (one run, in order).
const SUCCEEDING: &[(&str, &str)] = &[
    ("0001_create_audit_events.sql", "CREATE TABLE audit_events (id bigint PRIMARY KEY, happened_at timestamptz NOT NULL);\nCREATE INDEX audit_events_happened_idx ON audit_events (happened_at);"),
    ("0002_notice_with_data.sql", "DO $$ BEGIN RAISE NOTICE 'row: %', (SELECT note FROM customers WHERE id = 1); END $$;"),
    ("0003_warning_with_detail.sql", "DO $$ BEGIN RAISE WARNING 'w' USING DETAIL = (SELECT email FROM customers WHERE id = 1), HINT = (SELECT profile::text FROM customers WHERE id = 1); END $$;"),
    ("0004_debug_messages.sql", "SET client_min_messages = debug5;\nDO $$ BEGIN RAISE DEBUG '%', (SELECT note FROM customers WHERE id = 1); RAISE LOG '%', (SELECT tag FROM customers WHERE id = 1); END $$;"),
    ("0005_table_named_after_data.sql", "DO $$ BEGIN EXECUTE format('CREATE TABLE %I (id int)', (SELECT note FROM customers WHERE id = 1)); END $$;"),
    ("0006_index_named_after_data.sql", "DO $$ BEGIN EXECUTE format('CREATE INDEX %I ON customers (id)', (SELECT email FROM customers WHERE id = 1)); END $$;"),
    ("0007_default_from_data.sql", "DO $$ BEGIN EXECUTE format('ALTER TABLE customers ADD COLUMN copied text DEFAULT %L', (SELECT profile->>'token' FROM customers WHERE id = 1)); END $$;"),
    ("0008_comment_from_data.sql", "DO $$ BEGIN EXECUTE format('COMMENT ON COLUMN customers.note IS %L', (SELECT convert_from(blob, 'UTF8') FROM customers WHERE id = 1)); END $$;"),
    ("0009_explain_with_data.sql", "DO $$ DECLARE r text; BEGIN FOR r IN EXECUTE format('EXPLAIN SELECT * FROM customers WHERE note = %L', (SELECT note FROM customers WHERE id = 1)) LOOP RAISE NOTICE '%', r; END LOOP; END $$;\nEXPLAIN (ANALYZE, VERBOSE) SELECT * FROM customers WHERE email = 'user7@example.com';"),
    ("0010_data_to_stdout.sql", "SELECT id, email, note, profile, blob, feeling, tag FROM customers WHERE id IN (1, 301);"),
    ("0011_data_to_stderr.sql", "SELECT note AS leaked FROM customers WHERE id = 1 \\gset\n\\warn :leaked\n\\echo :leaked"),
    ("0012_huge_output.sql", "SELECT repeat(note || ' ', 500) FROM customers, generate_series(1, 3000) AS g WHERE id = 1;"),
    ("0013_application_name_from_data.sql", "DO $$ BEGIN PERFORM set_config('application_name', (SELECT note FROM customers WHERE id = 1), false); PERFORM pg_sleep(0.1); END $$;"),
    ("0014_lock_the_data_named_table.sql", "DO $$ DECLARE t text; BEGIN SELECT relname INTO t FROM pg_class WHERE relname LIKE 'cntb%'; EXECUTE format('LOCK TABLE %I IN ACCESS EXCLUSIVE MODE', t); EXECUTE format('ALTER TABLE %I ADD COLUMN extra int', t); PERFORM pg_sleep(0.1); END $$;"),
    ("0015_view_over_data.sql", "CREATE VIEW customer_notes AS SELECT id, note, feeling FROM customers;\nSELECT * FROM customer_notes WHERE id = 1;"),
    ("0016_enum_label_printed.sql", "SELECT enum_range(NULL::mood);\nDO $$ BEGIN RAISE NOTICE '%', enum_range(NULL::mood); END $$;"),
    ("0017_function_named_after_data.sql", "DO $$ BEGIN EXECUTE format('CREATE FUNCTION %I() RETURNS int LANGUAGE sql AS ''SELECT 1''', (SELECT note FROM customers WHERE id = 1)); END $$;"),
    ("0018_statement_text_with_data.sql", "DO $$ BEGIN EXECUTE format('UPDATE customers SET tag = %L WHERE id = 2', (SELECT note FROM customers WHERE id = 1)); END $$;\nUPDATE customers SET note = note WHERE id = 1;"),
];

/// Migrations that fail in ways whose server message carries data; each its own run.
const FAILING: &[(&str, &str)] = &[
    ("0101_raise_exception_with_data.sql", "DO $$ BEGIN RAISE EXCEPTION 'leak %', (SELECT note FROM customers WHERE id = 1); END $$;"),
    ("0102_unique_violation.sql", "ALTER TABLE customers ADD CONSTRAINT customers_email_key UNIQUE (email);"),
    ("0103_unique_index_violation.sql", "CREATE UNIQUE INDEX customers_email_idx ON customers (email);"),
    ("0104_not_null_violation.sql", "INSERT INTO customers (id, email, note) SELECT 1000, NULL, note FROM customers WHERE id = 1;"),
    ("0105_check_violation.sql", "ALTER TABLE customers ADD CONSTRAINT positive_id CHECK (id > 0);\nINSERT INTO customers (id, email, note) SELECT -1, 'x', note FROM customers WHERE id = 1;"),
    ("0106_invalid_integer.sql", "SELECT note::int FROM customers WHERE id = 1;"),
    ("0107_invalid_uuid_from_jsonb.sql", "SELECT (profile->>'token')::uuid FROM customers WHERE id = 1;"),
    ("0108_invalid_numeric_from_bytea.sql", "SELECT convert_from(blob, 'UTF8')::numeric FROM customers WHERE id = 1;"),
    ("0109_enum_label_in_error.sql", "SELECT enum_range(NULL::mood)::text::int;"),
    ("0110_default_in_error.sql", "SELECT column_default::int FROM information_schema.columns WHERE table_name = 'customers' AND column_name = 'tag';"),
    ("0111_comment_in_error.sql", "SELECT obj_description('customers'::regclass)::int;"),
    ("0112_table_name_in_error.sql", "SELECT (SELECT relname FROM pg_class WHERE relname LIKE 'cntb%')::int;"),
    ("0113_foreign_key_violation.sql", "CREATE TABLE notes (n text PRIMARY KEY);\nALTER TABLE customers ADD CONSTRAINT customers_note_fk FOREIGN KEY (note) REFERENCES notes (n);"),
    ("0114_invalid_date.sql", "SELECT note::date FROM customers WHERE id = 1;"),
    ("0115_error_fields_from_data.sql", "DO $$ DECLARE v text := (SELECT note FROM customers WHERE id = 1); BEGIN RAISE EXCEPTION USING MESSAGE = v, DETAIL = v, HINT = v, SCHEMA = v, TABLE = v, COLUMN = v, CONSTRAINT = v, DATATYPE = v; END $$;"),
    ("0116_sqlstate_from_data.sql", "DO $$ BEGIN RAISE EXCEPTION 'x' USING ERRCODE = upper(substr((SELECT note FROM customers WHERE id = 1), 1, 5)); END $$;"),
    ("0117_error_context_named_after_data.sql", "DO $$ DECLARE f text := (SELECT note FROM customers WHERE id = 1); BEGIN EXECUTE format('CREATE FUNCTION %I() RETURNS int LANGUAGE sql AS ''SELECT 1/0''', f); EXECUTE format('SELECT %I()', f); END $$;"),
    ("0118_copy_to_program.sql", "COPY (SELECT note FROM customers) TO PROGRAM 'cat';"),
    ("0119_untrusted_language.sql", "CREATE FUNCTION shell() RETURNS text LANGUAGE plpython3u AS 'return 1';"),
    ("0120_dblink.sql", "CREATE EXTENSION dblink;"),
    ("0121_division_by_zero_after_output.sql", "SELECT note FROM customers WHERE id = 1;\nSELECT 1 / (SELECT count(*) - count(*) FROM customers);"),
    ("0122_huge_error.sql", "DO $$ BEGIN RAISE EXCEPTION '%', repeat((SELECT note FROM customers WHERE id = 1), 20000); END $$;"),
];

/// A request body as GitLab reads it: form fields decoded (the gitlab crate sends
/// `application/x-www-form-urlencoded`), or the text itself.
fn decoded(body: &str) -> String {
    let fields: Vec<String> = url::form_urlencoded::parse(body.as_bytes())
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    format!("{body}\n{}", fields.join("\n"))
}

/// Runs `preflight run` on an MR adding `migrations`, against the engine; answers the
/// exit code and the artifacts directory.
fn run_mr(
    dir: &Path,
    migrations: &[(&str, &str)],
    gl_url: &str,
    engine_url: &str,
) -> (Option<i32>, std::path::PathBuf, String) {
    std::fs::create_dir_all(dir).unwrap();
    let repo = repo_with_migrations(dir, &[], migrations);
    let config = builtin_config(dir, "SELECT 1;");
    let artifacts = dir.join("artifacts");
    let mut env = mr_env(gl_url, "glpat-canary-token", &repo, &config, &artifacts);
    env.push(("PREFLIGHT_ENGINE_URL", engine_url.to_string()));
    env.push(("PREFLIGHT_ENGINE_TOKEN", TOKEN.to_string()));
    let out = preflight(&env, &["run"]);
    (out.status.code(), artifacts, text(&out))
}

#[tokio::test(flavor = "multi_thread")]
async fn no_canary_reaches_gitlab_whatever_the_migrations_try() {
    assert!(SUCCEEDING.len() + FAILING.len() >= 30);
    let root = tempfile::tempdir().unwrap();
    let canaries = Canaries::new();
    let pool = root.path().join("pool");
    let config = engine_config_seeded(
        root.path(),
        &pool,
        &canaries.seed(),
        "backend: auto\nport_range: [6700, 6799]\nmax_clones: 8\n",
    );
    let engine = EngineProc::start_with(config, &pool);
    engine.wait_for_snapshot().await;
    let gl = GitlabDouble::start("glpat-canary-token", "42", 7).await;

    // The succeeding run, then every failing one, three at a time.
    // (name, migrations, expected exit code)
    type Run = (String, Vec<(&'static str, &'static str)>, Option<i32>);
    let mut runs: Vec<Run> = vec![("succeeding".into(), SUCCEEDING.to_vec(), Some(0))];
    for (i, m) in FAILING.iter().enumerate() {
        runs.push((format!("failing-{i}"), vec![*m], Some(1)));
    }
    let limit = Arc::new(tokio::sync::Semaphore::new(3));
    let mut handles = Vec::new();
    for (name, migrations, expected) in runs {
        let dir = root.path().join(&name);
        let (gl_url, engine_url) = (gl.url.clone(), engine.url.clone());
        let permit = limit.clone().acquire_owned().await.unwrap();
        let migrations: Vec<(String, String)> = migrations
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        handles.push(tokio::task::spawn_blocking(move || {
            let borrowed: Vec<(&str, &str)> = migrations
                .iter()
                .map(|(a, b)| (a.as_str(), b.as_str()))
                .collect();
            let (code, artifacts, output) = run_mr(&dir, &borrowed, &gl_url, &engine_url);
            drop(permit);
            (name, expected, code, artifacts, output, migrations)
        }));
    }
    let mut full_reports = String::new();
    let mut public_views = String::new();
    for h in handles {
        // (The job log may hold canaries: it is the maintainers' protected log.)
        let (name, expected, code, artifacts, output, migrations) = h.await.unwrap();
        assert_eq!(code, expected, "{name} ended unexpectedly: {output}");
        let report = std::fs::read_to_string(artifacts.join("report.json")).unwrap();
        if name == "succeeding" {
            let json: serde_json::Value = serde_json::from_str(&report).unwrap();
            let outcomes = json["databases"][0]["migrations"].as_array().unwrap();
            assert_eq!(outcomes.len(), migrations.len());
        }
        full_reports.push_str(&report);
        for view in ["junit.xml", "gl-code-quality-report.json"] {
            let text = std::fs::read_to_string(artifacts.join(view))
                .unwrap_or_else(|e| panic!("{name}: no {view}: {e}"));
            public_views.push_str(&text.to_lowercase());
        }
        for entry in std::fs::read_dir(artifacts.join("main")).unwrap() {
            full_reports
                .push_str(&std::fs::read_to_string(entry.unwrap().path()).unwrap_or_default());
        }
    }

    // The attacks ran: the protected full report holds the canaries they reached.
    for c in canaries.all() {
        assert!(
            full_reports.contains(c),
            "canary {c} never reached even the full report"
        );
    }

    // Nor the JUnit and Code Quality reports GitLab shows in the MR widget.
    for c in canaries.all() {
        assert!(
            !public_views.contains(c),
            "canary {c} reached junit.xml or the Code Quality report"
        );
    }

    // Nothing of them reached GitLab: no request path, query or body.
    let requests = gl.requests();
    assert!(
        requests.len() > FAILING.len(),
        "every run posted: {}",
        requests.len()
    );
    for r in &requests {
        for c in canaries.all() {
            let body = decoded(&r.body).to_lowercase();
            assert!(
                !body.contains(c) && !r.path.contains(c) && !r.query.contains(c),
                "canary {c} reached GitLab in {} {}: {}",
                r.method,
                r.path,
                r.body
            );
            // Nor a 5-character piece of one (the SQLSTATE attack).
            let piece = &c[..5];
            assert!(
                !body.contains(piece),
                "a piece of {c} reached GitLab: {}",
                r.body
            );
        }
    }

    // The gate is not blanking everything: the migrations' own names are there.
    let bodies: String = requests
        .iter()
        .map(|r| decoded(&r.body).replace('\\', ""))
        .collect();
    for name in [
        "0001_create_audit_events",
        "audit_events",
        "0102_unique_violation",
        "unique_violation",
        "23505",
        "0106_invalid_integer",
        "invalid_text_representation",
    ] {
        assert!(
            bodies.contains(name),
            "{name} is missing from what GitLab received"
        );
    }
    assert_eq!(servers_under(&pool), "", "every run gave its clone back");
}
