//! The merge request hears from preflight at once and at the end, as the pipeline runs
//! it against the GitLab double: a placeholder note as soon as the migrations are
//! known, edited in place into the result; a `pending` commit status on the head commit
//! that ends `success` or `failed` with the protected job as its link; the verdict's
//! label, the other verdicts' labels removed; the note's history of earlier runs; a new
//! note when someone replied to the old one; and the findings policy's exit code.

mod common;

use common::gitlab_double::GitlabDouble;
use common::*;

const TOKEN: &str = "glpat-loop-secret";
/// The protected job's page on the GitLab (the double).
fn job_url(gl: &GitlabDouble) -> String {
    format!("{}/db/preflight/-/jobs/77", gl.url)
}

const SEED: &str = "CREATE TABLE orders (id bigint PRIMARY KEY, total int);
INSERT INTO orders SELECT g, g % 100 FROM generate_series(1, 5000) g;";

/// An index built without CONCURRENTLY on an existing table: PF-I01 (an error).
const RISKY: &[(&str, &str)] = &[(
    "0001_index_orders_total.sql",
    "SET lock_timeout = '2s';\nCREATE INDEX orders_total_idx ON orders (total);",
)];

const SAFE: &[(&str, &str)] = &[(
    "0001_index_orders_total.sql",
    "CREATE INDEX CONCURRENTLY orders_total_idx ON orders (total);",
)];

struct Mr {
    _root: tempfile::TempDir,
    env: Vec<(&'static str, String)>,
    config: std::path::PathBuf,
    head: String,
}

fn mr(gl: &GitlabDouble, migrations: &[(&str, &str)]) -> Mr {
    let root = tempfile::tempdir().unwrap();
    let repo = repo_with_migrations(root.path(), &[], migrations);
    let config = builtin_config(root.path(), SEED);
    let artifacts = root.path().join("artifacts");
    let mut env = mr_env(&gl.url, TOKEN, &repo, &config, &artifacts);
    env.push(("CI_JOB_URL", job_url(gl)));
    let head = String::from_utf8(
        std::process::Command::new("git")
            .args(["-C", &repo.display().to_string(), "rev-parse", "HEAD"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap()
    .trim()
    .to_string();
    Mr {
        _root: root,
        env,
        config,
        head,
    }
}

/// The request lines (`METHOD path`) the double saw, our own reads left out.
fn calls(gl: &GitlabDouble) -> Vec<String> {
    gl.requests()
        .into_iter()
        .filter(|r| r.method != "GET" || r.path.contains("/notes/"))
        .map(|r| format!("{} {}", r.method, r.path))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_placeholder_at_once_then_the_result_in_its_place_with_status_and_label() {
    let gl = GitlabDouble::start(TOKEN, "42", 7).await;
    gl.set_labels(&["backend", "preflight::passed"]);
    let mr = mr(&gl, RISKY);
    let out = preflight(&mr.env, &["run"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "findings alone pass by default: {}",
        text(&out)
    );

    let statuses = format!("POST /api/v4/projects/42/statuses/{}", mr.head);
    assert_eq!(
        calls(&gl),
        [
            "POST /api/v4/projects/42/merge_requests/7/notes".to_string(),
            statuses.clone(),
            "GET /api/v4/projects/42/merge_requests/7/notes/1001".to_string(),
            "PUT /api/v4/projects/42/merge_requests/7/notes/1001".to_string(),
            statuses,
            "PUT /api/v4/projects/42/merge_requests/7".to_string(),
        ],
        "placeholder, pending, re-read, result, final status, label: {}",
        text(&out)
    );
    let placeholder = &gl
        .requests()
        .into_iter()
        .find(|r| r.method == "POST" && r.path.ends_with("/notes"))
        .unwrap()
        .body;
    let placeholder: String = url::form_urlencoded::parse(placeholder.as_bytes())
        .find(|(k, _)| k == "body")
        .unwrap()
        .1
        .into_owned();
    assert!(
        placeholder.contains("rehearsing 1 migration on a production clone")
            && placeholder.contains(&job_url(&gl)),
        "{placeholder}"
    );

    let notes = gl.notes();
    assert_eq!(notes.len(), 1, "the placeholder became the result");
    assert!(notes[0].body.contains("PF-I01"), "{}", notes[0].body);
    assert!(!notes[0].body.contains("rehearsing"), "{}", notes[0].body);

    let statuses = gl.statuses();
    let states: Vec<&str> = statuses.iter().map(|s| s.state.as_str()).collect();
    assert_eq!(states, ["pending", "success"]);
    for s in &statuses {
        assert_eq!(s.sha, mr.head);
        assert_eq!(s.name, "preflight");
        assert_eq!(s.target_url, Some(job_url(&gl)));
    }
    assert!(statuses[1].description.contains("findings"), "{statuses:?}");
    assert_eq!(gl.labels(), ["backend", "preflight::findings"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn findings_fail_the_job_when_the_policy_says_so() {
    let gl = GitlabDouble::start(TOKEN, "42", 7).await;
    let mut mr = mr(&gl, RISKY);
    for (k, v) in mr.env.iter_mut() {
        if *k == "CI_JOB_URL" {
            *v = "https://phish.example/db/preflight/-/jobs/77".into();
        }
    }
    let mut yml = std::fs::read_to_string(&mr.config).unwrap();
    yml.push_str(
        "policy:\n  fail_on_findings: error\ngitlab:\n  labels: {findings: needs-db-review}\n",
    );
    std::fs::write(&mr.config, yml).unwrap();
    let out = preflight(&mr.env, &["run"]);
    assert_eq!(out.status.code(), Some(5), "{}", text(&out));
    let statuses = gl.statuses();
    assert_eq!(
        statuses[0].target_url, None,
        "a CI_JOB_URL off the configured GitLab is no link: {statuses:?}"
    );
    assert!(
        text(&out).contains("policy.fail_on_findings"),
        "{}",
        text(&out)
    );
    let states: Vec<String> = gl.statuses().into_iter().map(|s| s.state).collect();
    assert_eq!(states, ["pending", "failed"]);
    assert_eq!(gl.labels(), ["needs-db-review"]);
    // The note's headline says what the exit code and the status say.
    let notes = gl.notes();
    let note = &notes.last().unwrap().body;
    assert!(
        note.contains("with findings the policy does not accept"),
        "{note}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_note_keeps_the_history_and_a_reply_gets_a_new_note() {
    let gl = GitlabDouble::start(TOKEN, "42", 7).await;
    let risky = mr(&gl, RISKY);
    let safe = mr(&gl, SAFE);

    let first = preflight(&risky.env, &["run"]);
    assert_eq!(first.status.code(), Some(0), "{}", text(&first));
    let second = preflight(&safe.env, &["run"]);
    assert_eq!(second.status.code(), Some(0), "{}", text(&second));
    let notes = gl.notes();
    assert_eq!(notes.len(), 1, "edited in place");
    let note = &notes[0].body;
    assert!(
        note.contains("History: 1 earlier run on this merge request"),
        "{note}"
    );
    let short = |sha: &str| sha[..12].to_string();
    assert!(
        note.contains(&format!("| `{}` |", short(&risky.head)))
            && note.contains("| succeeded | 1 |"),
        "the first run: its commit, succeeded, one finding: {note}"
    );
    assert_eq!(gl.labels(), ["preflight::passed"]);

    let reply = gl.reply_to(notes[0].id, "why did this need an index?");
    let third = preflight(&risky.env, &["run"]);
    assert_eq!(third.status.code(), Some(0), "{}", text(&third));
    let notes = gl.notes();
    assert_eq!(
        notes.len(),
        3,
        "the discussion is left alone; a new note follows it"
    );
    assert_eq!(notes[0].body, *note, "the replied-to note is untouched");
    assert_eq!(notes[1].id, reply);
    let latest = &notes[2].body;
    assert!(latest.contains("PF-I01"), "{latest}");
    assert!(
        latest.contains("History: 2 earlier runs on this merge request"),
        "{latest}"
    );
    let first_row = latest
        .find(&format!("| `{}` |", short(&safe.head)))
        .unwrap();
    let second_row = latest
        .find(&format!("| `{}` |", short(&risky.head)))
        .unwrap();
    assert!(first_row < second_row, "newest first: {latest}");
    assert_eq!(gl.labels(), ["preflight::findings"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_note_that_would_be_too_long_is_posted_short_and_says_where_the_rest_is() {
    let gl = GitlabDouble::start(TOKEN, "42", 7).await;
    // 400 statements of their own text: a statement table far past the note's budget.
    let sql: String = (0..400)
        .map(|i| format!("CREATE TABLE audit_part_{i:03} (id bigint, note text);\n"))
        .collect();
    let mr = mr(&gl, &[("0001_audit_parts.sql", sql.as_str())]);
    let out = preflight(&mr.env, &["run"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));

    let notes = gl.notes();
    assert_eq!(notes.len(), 1);
    let note = &notes[0].body;
    assert!(
        note.len() <= preflight::report::NOTE_BUDGET,
        "{} bytes",
        note.len()
    );
    assert!(
        note.contains(
            "the rest of the detail is in the full report, in the protected job's artifacts"
        ),
        "{note}"
    );
    assert!(
        note.contains("| `0001_audit_parts` |"),
        "the migration row stays: {note}"
    );
    let artifacts = std::path::Path::new(
        &mr.env
            .iter()
            .find(|(k, _)| *k == "PREFLIGHT_ARTIFACTS_DIR")
            .unwrap()
            .1,
    )
    .to_path_buf();
    let full = std::fs::read_to_string(artifacts.join("report.md")).unwrap();
    for table in ["audit_part_000", "audit_part_399"] {
        assert!(full.contains(table), "{table} is in the full report");
    }
}

/// A run killed before it finished (out of memory, the job's timeout) left its
/// placeholder: "rehearsing ..." and a pending status. The job's after_script
/// (`preflight run --finish-abandoned`) turns it into "stopped before it finished" with a
/// failed status and label; it leaves a finished run's note alone, and the next run
/// edits the same note.
#[tokio::test(flavor = "multi_thread")]
async fn an_abandoned_run_is_finished_by_the_after_script() {
    let gl = GitlabDouble::start(TOKEN, "42", 7).await;
    let risky = mr(&gl, RISKY);
    // The killed run's placeholder, as the run posts it.
    let renderer = preflight::report::Renderer::new(None).unwrap();
    let placeholder = preflight::report::PublicSummary::placeholder(Some(&risky.head), None, 1)
        .with_history("2026-12-04T10:00:00Z", Vec::new());
    let body = renderer.summary(&placeholder).unwrap();
    assert!(body.contains("rehearsing 1 migration"), "{body}");
    let id = gl.add_note(&body, false);

    let out = preflight(&risky.env, &["run", "--finish-abandoned"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let notes = gl.notes();
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert_eq!(notes[0].id, id, "the placeholder itself is edited");
    assert!(
        notes[0]
            .body
            .contains("the rehearsal was stopped before it finished; the protected job says why"),
        "{}\n{}",
        notes[0].body,
        text(&out)
    );
    let states: Vec<String> = gl.statuses().into_iter().map(|s| s.state).collect();
    assert_eq!(states, ["failed"]);
    assert_eq!(gl.labels(), ["preflight::failed"]);

    // Once finished, the after-script changes nothing.
    let out = preflight(&risky.env, &["run", "--finish-abandoned"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(gl.statuses().len(), 1, "nothing more was set");

    // The next run edits the same note, and its history keeps the stopped run.
    let out = preflight(&risky.env, &["run"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let notes = gl.notes();
    assert_eq!(notes.len(), 1, "one note per MR: {notes:?}");
    assert!(
        notes[0].body.contains("stopped before it finished"),
        "{}",
        notes[0].body
    );
    let out = preflight(&risky.env, &["run", "--finish-abandoned"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        !gl.notes()[0]
            .body
            .contains("the rehearsal was stopped before it finished;"),
        "a finished run is left alone"
    );
}
