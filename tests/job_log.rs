//! The job log of a real run, as GitLab shows it: a collapsible section per phase in
//! order (plan, fetch, placeholder, clone, each migration, report, publish), each closed
//! with its duration; each migration's outcome in colour. Outside GitLab and off a
//! terminal, the same log has no escape sequence at all.

mod common;

use common::*;

const SEED: &str = "CREATE TABLE orders (id bigint PRIMARY KEY, total int);";

const HEAD: &[(&str, &str)] = &[
    (
        "0001_add_note.sql",
        "ALTER TABLE orders ADD COLUMN note text;",
    ),
    ("0002_fails.sql", "ALTER TABLE missing ADD COLUMN x int;"),
];

/// The ids of the sections opened and closed, in the order the log has them.
fn sections(log: &str, marker: &str) -> Vec<String> {
    log.split("\x1b[0K")
        .filter_map(|part| part.strip_prefix(marker))
        .map(|rest| {
            let id = rest.split_once(':').map_or("", |(_, id)| id);
            id.split(['[', '\r']).next().unwrap_or("").to_string()
        })
        .collect()
}

#[test]
fn a_gitlab_job_log_has_a_section_per_phase_and_a_plain_log_has_no_escapes() {
    let root = tempfile::tempdir().unwrap();
    let repo = repo_with_migrations(root.path(), &[], HEAD);
    let config = builtin_config(root.path(), SEED);
    let artifacts = root.path().join("artifacts");
    let env = |gitlab: bool| {
        let mut env = vec![
            ("PREFLIGHT_LOCAL_CHECKOUT", repo.display().to_string()),
            ("PREFLIGHT_CONFIG", config.display().to_string()),
            ("PREFLIGHT_ARTIFACTS_DIR", artifacts.display().to_string()),
        ];
        if gitlab {
            env.push(("GITLAB_CI", "true".to_string()));
        }
        env
    };
    let args = ["run", "--print-only", "--all-migrations"];

    let out = preflight(&env(true), &args);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let log = String::from_utf8_lossy(&out.stderr);
    let phases = [
        "plan",
        "fetch",
        "placeholder",
        "clone_main",
        "migration_main_1",
        "migration_main_2",
        "report",
        "publish",
    ];
    assert_eq!(sections(&log, "section_start:"), phases, "{log}");
    assert_eq!(sections(&log, "section_end:"), phases, "{log}");
    assert_eq!(log.matches("   done in ").count(), phases.len(), "{log}");
    assert!(
        log.contains("Migration 2 of 2 on main: 0002_fails"),
        "{log}"
    );
    assert!(
        log.contains("0001_add_note: \x1b[32msucceeded\x1b[0m in "),
        "{log}"
    );
    assert!(
        log.contains("0002_fails: \x1b[31mfailed\x1b[0m in ") && log.contains("SQLSTATE 42P01"),
        "{log}"
    );

    let out = preflight(&env(false), &args);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(
        !log.contains('\x1b'),
        "escape sequences off a terminal: {log:?}"
    );
    assert!(
        log.contains("== Migration 1 of 2 on main: 0001_add_note"),
        "{log}"
    );
    assert!(log.contains("0001_add_note: succeeded in "), "{log}");
}
