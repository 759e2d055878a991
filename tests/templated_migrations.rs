//! Templated migrations and the server version, through `preflight run`. supabase/auth
//! writes its golang-migrate files as Go templates; with `databases[].template` the
//! rehearsal runs (and observes, and judges) the SQL they render to, up and down, and
//! without it they fail as PostgreSQL sees the braces. A template the built-in renderer
//! does not know stops the run before anything runs, naming the file. The note says the
//! clone's PostgreSQL major version and warns when production's differs.

mod common;

use common::*;

const SEED: &str = "CREATE SCHEMA auth;
CREATE TABLE auth.mfa_factors (id bigint PRIMARY KEY);
INSERT INTO auth.mfa_factors SELECT g FROM generate_series(1, 100) g;";

const UP: &str =
    "ALTER TABLE {{ index .Options \"Namespace\" }}.mfa_factors ADD COLUMN friendly_name text;\n";
const DOWN: &str =
    "ALTER TABLE {{ index .Options \"Namespace\" }}.mfa_factors DROP COLUMN friendly_name;\n";
const TEMPLATE: &str = "template: {syntax: go, values: {Options: {Namespace: auth}}}";

#[test]
fn go_templates_render_with_trusted_values_before_they_run() {
    let (code, note, report) = rehearse_files(
        SEED,
        &[("1_mfa.up.sql", UP), ("1_mfa.down.sql", DOWN)],
        &format!("{TEMPLATE}, production_version: 14, allow_other_major: true"),
    );
    assert_eq!(code, Some(0), "{note}");
    let m = &report["databases"][0]["migrations"][0];
    assert_eq!(m["outcome"], "succeeded", "{m}");
    let statements = traced(m, "text");
    assert!(
        statements
            .iter()
            .any(|s| s.starts_with("ALTER TABLE auth.mfa_factors ADD COLUMN friendly_name")),
        "{statements:?}"
    );
    assert_eq!(m["way_back"]["down"]["outcome"], "succeeded", "{m}");
    assert_eq!(m["way_back"]["differences"], serde_json::json!([]));
    // The clone runs the newest major here (no postgres_major is configured).
    let version = report["databases"][0]["server_version"].as_str().unwrap();
    let newest = newest_major();
    assert!(version.starts_with(&format!("{newest}.")), "{version}");
    assert!(
        note.contains(&format!("(PostgreSQL {newest}, clone ready in")),
        "{note}"
    );
    assert!(
        note.contains(&format!(
            ":warning: Production runs PostgreSQL 14, but the clone runs PostgreSQL {newest}"
        )),
        "{note}"
    );
}

fn newest_major() -> u32 {
    preflight::pg::majors::Majors::new(std::path::Path::new(preflight::pg::majors::PREPARED))
        .newest()
        .unwrap()
}

/// Without `allow_other_major`, a clone of another major than production's is not
/// rehearsed on: nothing runs, and the job log says both majors and what to do.
#[test]
fn a_clone_of_another_major_than_productions_is_not_rehearsed_on() {
    let (code, note, report) =
        rehearse_files(SEED, &[("1_mfa.up.sql", UP)], "production_version: 14");
    assert_eq!(code, Some(3), "{note}");
    let error = report["databases"][0]["error"].as_str().unwrap();
    assert!(
        error.contains("production runs PostgreSQL 14, but the clone runs")
            && error.contains("allow_other_major: true"),
        "{error}"
    );
    assert_eq!(
        report["databases"][0]["migrations"][0]["outcome"], "skipped",
        "{report}"
    );
}

#[test]
fn without_rendering_the_braces_reach_postgres_and_fail() {
    let (code, note, report) = rehearse_files(
        SEED,
        &[("1_mfa.up.sql", UP)],
        &format!("production_version: {}", newest_major()),
    );
    assert_eq!(code, Some(1), "{note}");
    let m = &report["databases"][0]["migrations"][0];
    assert_eq!(m["sqlstate"], "42601", "{m}");
    assert!(!note.contains("Production runs PostgreSQL"), "{note}");
}

#[test]
fn a_template_the_renderer_does_not_know_is_refused_naming_the_file() {
    let root = tempfile::tempdir().unwrap();
    let repo = repo_with_migrations(
        root.path(),
        &[],
        &[(
            "1_mfa.up.sql",
            "ALTER TABLE {{ printf \"%s\" .Namespace }}.mfa_factors ADD COLUMN x int;",
        )],
    );
    let config = builtin_config_with(root.path(), SEED, TEMPLATE);
    let out = print_only_run(&repo, &config, &root.path().join("artifacts"));
    assert_eq!(out.status.code(), Some(6), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("db/migrations/1_mfa.up.sql: the template expression {{ printf")
            && err.contains("not one the built-in renderer knows"),
        "{err}"
    );
    let note = String::from_utf8_lossy(&out.stdout);
    assert!(
        note.contains("`db/migrations/1_mfa.up.sql` is a template preflight cannot render"),
        "{note}"
    );
}
