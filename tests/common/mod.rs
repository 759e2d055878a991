//! Helpers shared by the integration tests: the GitLab double, a git checkout with a
//! merge base and an MR head, running the real `preflight` binary with a clean
//! environment, and checks that nothing was left behind.
#![allow(dead_code)]

pub mod engine;
pub mod gitlab_double;
pub mod gitlab_mr;
pub mod gitlab_repo;
pub mod seeded_clone;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The commit `rev` names in `repo`.
pub fn rev_parse(repo: &Path, rev: &str) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(["rev-parse", rev])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A repository whose `db/migrations` has `base` files on `main` and `head` files too on
/// `feature` (names may hold a directory: `2024-01-01-000000_x/up.sql`).
pub fn repo_with_migrations(root: &Path, base: &[(&str, &str)], head: &[(&str, &str)]) -> PathBuf {
    let under = |files: &[(&str, &str)]| -> Vec<(String, String)> {
        files
            .iter()
            .map(|(name, text)| (format!("db/migrations/{name}"), text.to_string()))
            .collect()
    };
    std::fs::create_dir_all(root.join("repo/db/migrations")).unwrap();
    repo_with_files(root, &under(base), &under(head))
}

/// A repository with `base` files (paths from its root) on `main`, and `head` files
/// too on the checked-out `feature` branch.
pub fn repo_with_files(
    root: &Path,
    base: &[(String, String)],
    head: &[(String, String)],
) -> PathBuf {
    let repo = root.join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    git(&repo, &["init", "-q", "-b", "main"]);
    git(&repo, &["config", "user.email", "dev@example.com"]);
    git(&repo, &["config", "user.name", "dev"]);
    std::fs::write(repo.join("README.md"), "app\n").unwrap();
    let write = |name: &str, text: &str| {
        let file = repo.join(name);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(file, text).unwrap();
    };
    for (name, text) in base {
        write(name, text);
    }
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "-qm", "base"]);
    git(&repo, &["checkout", "-qb", "feature"]);
    for (name, text) in head {
        write(name, text);
    }
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "-qm", "head", "--allow-empty"]);
    repo
}

/// A configuration file for the built-in engine, loading `seed_sql` as production.
pub fn builtin_config(root: &Path, seed_sql: &str) -> PathBuf {
    let seed = root.join("seed.sql");
    std::fs::write(&seed, seed_sql).unwrap();
    let config = root.join("preflight.yml");
    std::fs::write(
        &config,
        format!(
            "builtin:\n  work_dir: {}\n  source: {{kind: sql_file, path: {}}}\n\
             databases:\n  - {{name: main, db_name: app, migrations: db/migrations}}\n\
             box:\n  migration_timeout: 60s\n",
            root.join("engine").display(),
            seed.display()
        ),
    )
    .unwrap();
    config
}

/// [`builtin_config`] with `database` added to the database's entry (`{name: main, ...}`).
pub fn builtin_config_with(root: &Path, seed_sql: &str, database: &str) -> PathBuf {
    let config = builtin_config(root, seed_sql);
    if !database.is_empty() {
        let yaml = std::fs::read_to_string(&config).unwrap().replace(
            "migrations: db/migrations}",
            &format!("migrations: db/migrations, {database}}}"),
        );
        std::fs::write(&config, yaml).unwrap();
    }
    config
}

/// Rehearses `files` (the MR's new migrations) on a built-in engine seeded with `seed`,
/// with `database` added to the database's configuration (`{name: main, ...}`) unless
/// empty; answers the exit code, the note printed and `report.json`.
pub fn rehearse_files(
    seed: &str,
    files: &[(&str, &str)],
    database: &str,
) -> (Option<i32>, String, serde_json::Value) {
    rehearse_files_configured(seed, files, database, "")
}

/// [`rehearse_files`] with `top_level` YAML appended to the configuration file
/// (`findings: {...}`, `traffic: {...}`).
pub fn rehearse_files_configured(
    seed: &str,
    files: &[(&str, &str)],
    database: &str,
    top_level: &str,
) -> (Option<i32>, String, serde_json::Value) {
    let root = tempfile::tempdir().unwrap();
    let repo = repo_with_migrations(root.path(), &[], files);
    let config = builtin_config_with(root.path(), seed, database);
    let yaml = std::fs::read_to_string(&config).unwrap() + top_level;
    std::fs::write(&config, yaml).unwrap();
    rehearse_checkout(&repo, &config, &root.path().join("artifacts"))
}

/// [`print_only_run`]; answers the exit code, the note printed and `report.json`.
pub fn rehearse_checkout(
    repo: &Path,
    config: &Path,
    artifacts: &Path,
) -> (Option<i32>, String, serde_json::Value) {
    let out = print_only_run(repo, config, artifacts);
    let report = std::fs::read_to_string(artifacts.join("report.json"))
        .unwrap_or_else(|_| panic!("no report: {}", text(&out)));
    let note = String::from_utf8_lossy(&out.stdout).into_owned();
    (
        out.status.code(),
        note,
        serde_json::from_str(&report).unwrap(),
    )
}

/// `preflight run --print-only --all-migrations` on the checkout `repo` with `config`,
/// the artifacts going to `artifacts`.
pub fn print_only_run(repo: &Path, config: &Path, artifacts: &Path) -> Output {
    let env = vec![
        ("PREFLIGHT_LOCAL_CHECKOUT", repo.display().to_string()),
        ("PREFLIGHT_CONFIG", config.display().to_string()),
        ("PREFLIGHT_ARTIFACTS_DIR", artifacts.display().to_string()),
    ];
    preflight(&env, &["run", "--print-only", "--all-migrations"])
}

/// The CI variables of an MR pipeline for project 42, MR !7, target branch `main`,
/// posting to the GitLab double at `gitlab_url` with `token`.
pub fn mr_env(
    gitlab_url: &str,
    token: &str,
    repo: &Path,
    config: &Path,
    artifacts: &Path,
) -> Vec<(&'static str, String)> {
    vec![
        ("CI_SERVER_URL", gitlab_url.to_string()),
        ("PREFLIGHT_GITLAB_TOKEN", token.to_string()),
        ("CI_MERGE_REQUEST_PROJECT_ID", "42".to_string()),
        ("CI_MERGE_REQUEST_IID", "7".to_string()),
        ("CI_MERGE_REQUEST_TARGET_BRANCH_NAME", "main".to_string()),
        ("PREFLIGHT_LOCAL_CHECKOUT", repo.display().to_string()),
        ("PREFLIGHT_CONFIG", config.display().to_string()),
        ("PREFLIGHT_ARTIFACTS_DIR", artifacts.display().to_string()),
    ]
}

/// `env` turned into the CI job's own mode: no checkout at all, the MR read through
/// GitLab's API at `head` (the double must [`serve_repo`](gitlab_double::GitlabDouble::serve_repo)).
pub fn api_mode(mut env: Vec<(&'static str, String)>, head: &str) -> Vec<(&'static str, String)> {
    env.retain(|(k, _)| {
        *k != "PREFLIGHT_LOCAL_CHECKOUT" && *k != "CI_MERGE_REQUEST_TARGET_BRANCH_NAME"
    });
    env.push(("PREFLIGHT_MR_HEAD_SHA", head.to_string()));
    env
}

/// `preflight` with only the environment a test gives it (plus PATH and Docker's).
pub fn preflight(envs: &[(&str, String)], args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_preflight"));
    cmd.env_clear();
    for key in ["PATH", "HOME", "DOCKER_HOST", "TMPDIR"] {
        if let Ok(v) = std::env::var(key) {
            cmd.env(key, v);
        }
    }
    cmd.env("PREFLIGHT_LOG", "preflight=info");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.args(args).output().expect("the preflight binary runs")
}

pub fn text(out: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The run id recorded in the full report.
pub fn run_id(artifacts: &Path) -> String {
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(artifacts.join("report.json")).unwrap())
            .unwrap();
    json["run_id"].as_str().unwrap().to_string()
}

/// Where the in-process engine of [`builtin_config`] keeps its clones (database `app`).
pub fn clones_dir(engine_dir: &Path) -> PathBuf {
    engine_dir.join("pool-app").join("clones")
}

/// No box, run directory, clone directory or clone server of this run is left.
pub async fn assert_nothing_left(run_id: &str, engine_dir: &Path) {
    assert_no_box_or_run_dir(run_id).await;
    assert_no_clones(engine_dir);
}

/// No box and no run directory (bridge socket, staged migrations) of this run is left.
pub async fn assert_no_box_or_run_dir(run_id: &str) {
    let docker = preflight::sandbox::connect_docker().await.unwrap();
    let boxes = preflight::sandbox::boxes_of_run(&docker, run_id)
        .await
        .unwrap();
    assert!(boxes.is_empty(), "boxes left behind: {boxes:?}");
    assert!(
        !std::env::temp_dir()
            .join("preflight-runs")
            .join(run_id)
            .exists(),
        "run directory (bridge socket, staged migrations) left behind"
    );
}

/// The in-process engine under `engine_dir` made no clone (or never started).
pub fn assert_never_cloned(engine_dir: &Path) {
    let clones = engine_dir.join("clones");
    let made = std::fs::read_dir(&clones).map_or(0, |d| d.count());
    assert_eq!(made, 0, "a clone was made under {}", clones.display());
}

/// The in-process engine's pool has no clone directory and no clone server running.
pub fn assert_no_clones(engine_dir: &Path) {
    let clones = clones_dir(engine_dir);
    assert!(
        clones.is_dir(),
        "{} is missing: did the engine's layout change?",
        clones.display()
    );
    let left: Vec<_> = std::fs::read_dir(&clones)
        .map(|d| d.filter_map(|e| e.ok()).map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "clone directories left behind: {left:?}");
    let ps = Command::new("pgrep")
        .args(["-f", &clones.display().to_string()])
        .output()
        .unwrap();
    assert!(
        ps.stdout.is_empty(),
        "server processes left behind: {}",
        String::from_utf8_lossy(&ps.stdout)
    );
}

/// One field (`text`, `kind`) of every statement a migration's trace holds, in order.
pub fn traced(migration: &serde_json::Value, field: &str) -> Vec<String> {
    migration["trace"]["statements"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s[field].as_str().unwrap_or_default().to_string())
        .collect()
}

/// Two fields (`name`, `outcome`, `sqlstate`, ...) of each migration of the first
/// database in a report, "" where one is absent.
pub fn migration_pairs(report: &serde_json::Value, a: &str, b: &str) -> Vec<(String, String)> {
    let field = |m: &serde_json::Value, f: &str| m[f].as_str().unwrap_or_default().to_string();
    report["databases"][0]["migrations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (field(m, a), field(m, b)))
        .collect()
}
