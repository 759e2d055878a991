//! An MR written by an attacker who has read the code, against the host side of the job.
//! The outside trial that motivated these: one committed symlink
//! (`db/migrations/0002_x.sql -> /proc/self/environ`) got the job's own GitLab token
//! posted in the public note. Every case here runs the real `preflight run` and checks
//! that the MR's content is read as git objects only: links, submodules and a linked
//! migrations directory are refused by name before anything runs, and no secret, no host
//! file's content, reaches GitLab or the job's output. Trusted configuration inside the
//! MR's code is refused too, and reading the MR through GitLab's API refuses a head that
//! moved on.

mod common;

use common::gitlab_double::GitlabDouble;
use common::*;
use std::os::unix::fs::symlink;
use std::path::Path;

const TOKEN: &str = "glpat-hostile-2f9c81d7e0";
const JOB_TOKEN: &str = "cijob-hostile-77b1e0c3a5";
const HOST_SECRET: &str = "host-secret-41d8cd98f00b";

/// The run's environment, as in CI, with a `CI_JOB_TOKEN` the job must never expose.
fn hostile_env(gl: &GitlabDouble, repo: &Path, root: &Path) -> Vec<(&'static str, String)> {
    let config = builtin_config(root, "CREATE TABLE t (id int);");
    let mut env = mr_env(&gl.url, TOKEN, repo, &config, &root.join("artifacts"));
    env.push(("CI_JOB_TOKEN", JOB_TOKEN.to_string()));
    env
}

/// Commits `change` (run in the repository) on top of the MR's head.
fn commit_on_head(repo: &Path, change: impl FnOnce(&Path)) {
    change(repo);
    git(repo, &["add", "-A"]);
    git(repo, &["commit", "-qm", "hostile change"]);
}

/// No secret and no host file's content in GitLab's requests or the job's output.
fn assert_nothing_leaked(gl: &GitlabDouble, out: &std::process::Output) {
    let output = text(out);
    for secret in [TOKEN, JOB_TOKEN, HOST_SECRET] {
        assert!(
            !output.contains(secret),
            "{secret} in the job output: {output}"
        );
        for r in gl.requests() {
            assert!(
                !r.body.contains(secret) && !r.query.contains(secret) && !r.path.contains(secret),
                "{secret} sent to GitLab: {r:?}"
            );
        }
    }
}

/// Refused with the refusal's own exit code, the file and the rule in the job's error,
/// and the MR's author told on the MR: a note naming the file and the rule (the only
/// note), a failed commit status.
fn assert_refused(gl: &GitlabDouble, out: &std::process::Output, path: &str, kind: &str) {
    assert_eq!(out.status.code(), Some(6), "{}", text(out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(path) && err.contains(kind), "{}", text(out));
    let notes = gl.notes();
    let note = &notes.last().expect("the author hears why").body;
    let rule = match kind {
        "box.max_migration_bytes" => "is larger than one migration may be".to_string(),
        kind => format!("is a {kind}"),
    };
    assert!(
        note.contains("were refused, so nothing ran") && note.contains(&format!("`{path}` {rule}")),
        "{note}"
    );
    assert!(!note.contains("withheld"), "{note}");
    let states: Vec<String> = gl.statuses().into_iter().map(|s| s.state).collect();
    assert_eq!(
        states.last().map(String::as_str),
        Some("failed"),
        "{states:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_committed_symlink_to_the_jobs_environment_or_a_host_file_is_refused_unread() {
    for target in ["/proc/self/environ", "HOST_FILE"] {
        let root = tempfile::tempdir().unwrap();
        let host_file = root.path().join("host-secret.txt");
        std::fs::write(&host_file, format!("SELECT '{HOST_SECRET}';")).unwrap();
        let target = match target {
            "HOST_FILE" => host_file.display().to_string(),
            other => other.to_string(),
        };
        let repo = repo_with_migrations(root.path(), &[], &[("0001_ok.sql", "SELECT 1;")]);
        commit_on_head(&repo, |r| {
            symlink(&target, r.join("db/migrations/0002_x.sql")).unwrap();
        });
        let gl = GitlabDouble::start(TOKEN, "42", 7).await;
        let out = preflight(&hostile_env(&gl, &repo, root.path()), &["run"]);
        assert_refused(&gl, &out, "db/migrations/0002_x.sql", "symbolic link");
        assert_nothing_leaked(&gl, &out);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_linked_migrations_directory_and_a_submodule_are_refused() {
    let root = tempfile::tempdir().unwrap();
    let repo = repo_with_migrations(root.path(), &[], &[("0001_ok.sql", "SELECT 1;")]);
    commit_on_head(&repo, |r| {
        std::fs::rename(r.join("db/migrations"), r.join("db/real")).unwrap();
        symlink("real", r.join("db/migrations")).unwrap();
    });
    let gl = GitlabDouble::start(TOKEN, "42", 7).await;
    let out = preflight(&hostile_env(&gl, &repo, root.path()), &["run"]);
    assert_refused(&gl, &out, "db/migrations", "symbolic link");
    assert_nothing_leaked(&gl, &out);

    let root = tempfile::tempdir().unwrap();
    let repo = repo_with_migrations(root.path(), &[], &[("0001_ok.sql", "SELECT 1;")]);
    let head = rev_parse(&repo, "HEAD");
    git(
        &repo,
        &[
            "update-index",
            "--add",
            "--cacheinfo",
            &format!("160000,{head},db/migrations/0002_sub.sql"),
        ],
    );
    git(&repo, &["commit", "-qm", "a submodule"]);
    let gl = GitlabDouble::start(TOKEN, "42", 7).await;
    let out = preflight(&hostile_env(&gl, &repo, root.path()), &["run"]);
    assert_refused(&gl, &out, "db/migrations/0002_sub.sql", "submodule");
}

#[tokio::test(flavor = "multi_thread")]
async fn configuration_inside_the_mrs_code_is_refused() {
    let root = tempfile::tempdir().unwrap();
    let repo = repo_with_migrations(root.path(), &[], &[("0001_ok.sql", "SELECT 1;")]);
    let gl = GitlabDouble::start(TOKEN, "42", 7).await;
    let mut env = hostile_env(&gl, &repo, root.path());
    let inside = repo.join("preflight.yml");
    std::fs::write(&inside, "engine:\n  restricted: false\n").unwrap();
    env.retain(|(k, _)| *k != "PREFLIGHT_CONFIG");
    env.push(("PREFLIGHT_CONFIG", inside.display().to_string()));
    let out = preflight(&env, &["run"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("lies inside the MR's code"),
        "{}",
        text(&out)
    );
    assert_nothing_leaked(&gl, &out);
    assert!(gl.notes().is_empty(), "a note was posted: {:?}", gl.notes());
}

fn api_env(gl: &GitlabDouble, repo: &Path, root: &Path, head: &str) -> Vec<(&'static str, String)> {
    api_mode(hostile_env(gl, repo, root), head)
}

#[tokio::test(flavor = "multi_thread")]
async fn through_the_api_a_symlink_is_refused_and_a_moved_head_is_not_rehearsed() {
    let root = tempfile::tempdir().unwrap();
    let repo = repo_with_migrations(root.path(), &[], &[("0001_ok.sql", "SELECT 1;")]);
    let base = rev_parse(&repo, "main");
    commit_on_head(&repo, |r| {
        symlink("/proc/self/environ", r.join("db/migrations/0002_x.sql")).unwrap();
    });
    let head = rev_parse(&repo, "HEAD");
    let gl = GitlabDouble::start(TOKEN, "42", 7).await;
    gl.serve_repo(&repo, &head, &base);
    let out = preflight(&api_env(&gl, &repo, root.path(), &head), &["run"]);
    assert_refused(&gl, &out, "db/migrations/0002_x.sql", "symbolic link");
    assert_nothing_leaked(&gl, &out);
    assert!(
        gl.requests()
            .iter()
            .any(|r| r.path.ends_with("/repository/tree")),
        "the tree was read through the API"
    );

    let older = rev_parse(&repo, "HEAD~1");
    let out = preflight(&api_env(&gl, &repo, root.path(), &older), &["run"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("a newer pipeline") && err.contains(&head),
        "{err}"
    );
}

/// Every file under `dir`, as text.
fn texts_under(dir: &Path, out: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            texts_under(&path, out);
        } else {
            out.push(String::from_utf8_lossy(&std::fs::read(&path).unwrap()).into_owned());
        }
    }
}

/// A superuser migration that searches its server's memory for the job's secrets. A
/// PostgreSQL server overwrites its own `/proc/<pid>/environ` with its process title, but
/// keeps a copy of its environment on the heap, which `pg_read_binary_file` reads through
/// `/proc/self/mem`. For each place a variable's name (`PATH=`, the token variables)
/// occurs, it prints `ENVFOUND` and the bytes that follow: the variable's value where the
/// place is the environment's copy. The secrets' values are not in this text, so finding
/// one in the output means the server had it.
const MEMORY_SEARCH: &str = r#"DO $$
DECLARE
  line text; lo bigint; hi bigint; chunk bytea; needle text; at int; from_ int;
BEGIN
  FOREACH line IN ARRAY string_to_array(pg_read_file('/proc/self/maps'), E'\n') LOOP
    CONTINUE WHEN line NOT LIKE '%[heap]%' AND line NOT LIKE '%[stack]%';
    lo := ('x' || lpad(split_part(split_part(line, ' ', 1), '-', 1), 16, '0'))::bit(64)::bigint;
    hi := ('x' || lpad(split_part(split_part(line, ' ', 1), '-', 2), 16, '0'))::bit(64)::bigint;
    chunk := pg_read_binary_file('/proc/self/mem', lo, hi - lo);
    FOREACH needle IN ARRAY ARRAY['PATH=', 'PREFLIGHT_GITLAB_TOKEN=', 'CI_JOB_TOKEN='] LOOP
      from_ := 1;
      FOR i IN 1..50 LOOP
        at := position(convert_to(needle, 'UTF8') IN substring(chunk FROM from_));
        EXIT WHEN at = 0;
        RAISE NOTICE 'ENVFOUND %', encode(substring(chunk FROM from_ + at - 1 FOR 60), 'escape');
        from_ := from_ + at;
      END LOOP;
    END LOOP;
  END LOOP;
END $$;
"#;

#[tokio::test(flavor = "multi_thread")]
async fn a_superuser_migration_searching_the_servers_memory_finds_no_token() {
    let root = tempfile::tempdir().unwrap();
    let repo = repo_with_migrations(root.path(), &[], &[("0001_search.sql", MEMORY_SEARCH)]);
    let gl = GitlabDouble::start(TOKEN, "42", 7).await;
    let env = hostile_env(&gl, &repo, root.path());
    let config = root.path().join("preflight.yml");
    let mut yaml = std::fs::read_to_string(&config).unwrap();
    yaml.push_str("engine:\n  restricted: false\n");
    std::fs::write(&config, yaml).unwrap();
    let out = preflight(&env, &["run"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));

    let mut texts = Vec::new();
    texts_under(&root.path().join("artifacts"), &mut texts);
    texts.push(text(&out));
    assert!(
        texts.iter().any(|t| t.contains("ENVFOUND PATH=/")),
        "the search found no environment: {}",
        text(&out)
    );
    for secret in [TOKEN, JOB_TOKEN] {
        assert!(
            !texts.iter().any(|t| t.contains(secret)),
            "{secret} is in the clone server's memory"
        );
    }
    for r in gl.requests() {
        assert!(
            !r.body.contains(TOKEN) && !r.body.contains(JOB_TOKEN),
            "{r:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn names_the_mr_chose_reach_the_note_as_code_and_odd_bytes_still_run() {
    let root = tempfile::tempdir().unwrap();
    let name = "0001_ping_@all_[x](https:__e.example)_a|b.sql";
    let repo = repo_with_migrations(
        root.path(),
        &[("0000_café.sql", "CREATE TABLE café (id int);")],
        &[(name, "CREATE TABLE pinged (id int);")],
    );
    // A file that is not UTF-8 (Latin-1 in a comment) still reaches PostgreSQL.
    commit_on_head(&repo, |r| {
        std::fs::write(
            r.join("db/migrations/0002_latin1.sql"),
            b"-- caf\xe9\nCREATE TABLE latin1 (id int);\n",
        )
        .unwrap();
    });
    let gl = GitlabDouble::start(TOKEN, "42", 7).await;
    let out = preflight(&hostile_env(&gl, &repo, root.path()), &["run"]);
    let notes = gl.notes();
    assert_eq!(notes.len(), 1, "{}", text(&out));
    let note = &notes[0].body;
    let span = "`0001_ping_@all_[x](https:__e.example)_a\\|b`";
    let html_code = "<code>0001_ping_@all_[x](https:__e.example)_a|b</code>";
    assert!(note.contains(span) && note.contains(html_code), "{note}");
    assert_eq!(
        note.matches("@all").count(),
        note.matches(span).count() + note.matches(html_code).count(),
        "@all outside code: {note}"
    );
    assert!(!note.contains("withheld"), "{note}");
    assert!(
        !note.contains("café"),
        "a migration at the merge base ran again: {note}"
    );
    assert!(note.contains("`0002_latin1`"), "{note}");
    let report: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root.path().join("artifacts/report.json")).unwrap(),
    )
    .unwrap();
    let migrations = report["databases"][0]["migrations"].as_array().unwrap();
    assert_eq!(migrations.len(), 2, "{report}");
    assert_eq!(migrations[0]["outcome"], "succeeded", "{report}");
    assert_ne!(
        migrations[1]["outcome"], "skipped",
        "it ran; PostgreSQL decided: {report}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_migration_file_over_the_size_limit_is_refused_before_anything_runs() {
    let root = tempfile::tempdir().unwrap();
    let big = format!("SELECT 1;\n--{}\n", "x".repeat(4096));
    let repo = repo_with_migrations(root.path(), &[], &[("0001_big.sql", big.as_str())]);
    let gl = GitlabDouble::start(TOKEN, "42", 7).await;
    let env = hostile_env(&gl, &repo, root.path());
    let config = root.path().join("preflight.yml");
    let yaml = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        yaml.replace(
            "migration_timeout: 60s",
            "migration_timeout: 60s\n  max_migration_bytes: 1024",
        ),
    )
    .unwrap();
    let out = preflight(&env, &["run"]);
    assert_refused(
        &gl,
        &out,
        "db/migrations/0001_big.sql",
        "box.max_migration_bytes",
    );
    assert_nothing_leaked(&gl, &out);
    assert!(!root.path().join("engine").exists(), "nothing was cloned");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_migration_with_another_ones_version_is_refused_and_its_author_told() {
    let root = tempfile::tempdir().unwrap();
    let repo = repo_with_migrations(
        root.path(),
        &[("0001_a.sql", "SELECT 1;")],
        &[("01_b.sql", "SELECT 2;")],
    );
    let gl = GitlabDouble::start(TOKEN, "42", 7).await;
    let out = preflight(&hostile_env(&gl, &repo, root.path()), &["run"]);
    assert_eq!(out.status.code(), Some(6), "{}", text(&out));
    let notes = gl.notes();
    let note = &notes.last().expect("the author hears why").body;
    assert!(
        note.contains("has the version of another migration; give it a version of its own"),
        "{note}"
    );
    let states: Vec<String> = gl.statuses().into_iter().map(|s| s.state).collect();
    assert_eq!(
        states.last().map(String::as_str),
        Some("failed"),
        "{states:?}"
    );
    assert!(!root.path().join("engine").exists(), "nothing was cloned");
}

/// A file name with an escape, a carriage return and a newline cannot forge a line: not
/// in the job log, not in report.md, not in the note (the gate never passes a control
/// character); it shows as its escapes.
#[tokio::test(flavor = "multi_thread")]
async fn control_characters_in_a_name_forge_no_line_anywhere() {
    let root = tempfile::tempdir().unwrap();
    let name = "0001_x\u{1b}[2K\rFORGED: all migrations succeeded (exit 0)\nz.sql";
    let repo = repo_with_migrations(root.path(), &[], &[(name, "CREATE TABLE forged (id int);")]);
    let gl = GitlabDouble::start(TOKEN, "42", 7).await;
    let out = preflight(&hostile_env(&gl, &repo, root.path()), &["run"]);
    let log = String::from_utf8_lossy(&out.stderr);
    let full = std::fs::read_to_string(root.path().join("artifacts/report.md")).unwrap();
    let html = std::fs::read_to_string(root.path().join("artifacts/report.html")).unwrap();
    let notes = gl.notes();
    let note = &notes.last().expect("a note").body;
    for (what, text) in [
        ("job log", log.as_ref()),
        ("report.md", &full),
        ("report.html", &html),
        ("note", note),
    ] {
        assert!(
            !text.contains('\u{1b}'),
            "a raw escape in the {what}:\n{text}"
        );
        assert!(
            !text.lines().any(|l| l.starts_with("FORGED")),
            "a forged line in the {what}:\n{text}"
        );
    }
    assert!(
        full.contains("\\u{1b}[2K\\rFORGED: all migrations succeeded"),
        "the name shows as its escapes: {full}"
    );
}
