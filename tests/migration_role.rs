//! The migrations run as the role production migrates with, in the session production's
//! runner sets up, both from trusted configuration. A trial on Lemmy's migrations failed
//! at the first file with 42501 (disabling a table's system triggers needs a superuser)
//! and later with 42704 (its runner sets `lemmy.protocol_and_hostname` first); these
//! tests are those two failures, then the same files with production's role and session.

mod common;

use common::*;
use serde_json::Value;

const SEED: &str = "CREATE TABLE communities (id bigint PRIMARY KEY);
CREATE TABLE posts (id bigint PRIMARY KEY, community_id bigint REFERENCES communities);
INSERT INTO communities SELECT g FROM generate_series(1, 100) g;
INSERT INTO posts SELECT g, g % 100 + 1 FROM generate_series(1, 1000) g;";

/// Disabling every trigger includes the foreign key's system triggers: superuser only.
const NEEDS_SUPERUSER: &str = "ALTER TABLE posts DISABLE TRIGGER ALL;
UPDATE posts SET community_id = community_id;
ALTER TABLE posts ENABLE TRIGGER ALL;\n";

/// Reads the setting Lemmy's runner sets before it migrates (an error if unset).
const NEEDS_SETTING: &str = "CREATE TABLE instance_settings (url text);
INSERT INTO instance_settings VALUES (current_setting('lemmy.protocol_and_hostname'));\n";

/// Needs CREATEROLE and membership in pg_read_all_data, and checks it is no superuser.
const NEEDS_OWNER: &str = "CREATE ROLE reporting NOLOGIN;
SET ROLE pg_read_all_data;
SELECT count(*) FROM posts;
RESET ROLE;
DO $$ BEGIN
  IF (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
    RAISE EXCEPTION 'the migration role is a superuser';
  END IF;
END $$;\n";

fn rehearse(files: &[(&str, &str)], database: &str) -> (Option<i32>, String, Value) {
    rehearse_files(SEED, files, database)
}

fn outcomes(report: &Value) -> Vec<(String, String)> {
    migration_pairs(report, "outcome", "sqlstate")
}

#[test]
fn the_default_role_is_refused_what_only_a_superuser_may_do_and_the_note_says_what_to_set() {
    let (code, note, report) = rehearse(
        &[
            ("0001_rewrite_posts.sql", NEEDS_SUPERUSER),
            ("0002_instance.sql", NEEDS_SETTING),
        ],
        "tool: psql",
    );
    assert_eq!(code, Some(1), "{note}{}", report["databases"][0]["error"]);
    assert_eq!(
        outcomes(&report),
        [
            ("failed".to_string(), "42501".to_string()),
            ("skipped".to_string(), String::new())
        ]
    );
    assert_eq!(report["databases"][0]["role"]["kind"], "restricted");
    assert!(
        note.contains("A migration was refused a privilege its role lacks.")
            && note.contains("`databases[].role` takes `superuser: true`"),
        "{note}"
    );
}

#[test]
fn without_the_runners_setting_a_migration_that_reads_it_fails() {
    let (code, note, report) = rehearse(&[("0001_instance.sql", NEEDS_SETTING)], "tool: psql");
    assert_eq!(code, Some(1), "{note}{}", report["databases"][0]["error"]);
    assert_eq!(outcomes(&report), [("failed".into(), "42704".into())]);
    assert!(!note.contains("refused a privilege"), "{note}");
}

#[test]
fn with_productions_superuser_and_session_the_same_files_run() {
    let (code, note, report) = rehearse(
        &[
            ("0001_rewrite_posts.sql", NEEDS_SUPERUSER),
            ("0002_instance.sql", NEEDS_SETTING),
        ],
        "tool: psql, role: {superuser: true}, \
         session: {lemmy.protocol_and_hostname: 'https://lemmy.example', lock_timeout: 5s}",
    );
    assert_eq!(code, Some(0), "{note}{}", report["databases"][0]["error"]);
    assert_eq!(
        outcomes(&report),
        [
            ("succeeded".into(), "".into()),
            ("succeeded".into(), "".into())
        ]
    );
    assert_eq!(report["databases"][0]["role"]["kind"], "superuser");
    assert!(
        note.contains("The migrations ran as a superuser, as production's do."),
        "{note}"
    );
}

#[test]
fn an_owner_gets_productions_attributes_and_memberships_and_is_no_superuser() {
    let (code, note, report) = rehearse(
        &[("0001_reporting.sql", NEEDS_OWNER)],
        "tool: psql, role: {attributes: [CREATEROLE], member_of: [pg_read_all_data]}",
    );
    assert_eq!(code, Some(0), "{note}{}", report["databases"][0]["error"]);
    assert_eq!(outcomes(&report), [("succeeded".into(), "".into())]);
    let role = &report["databases"][0]["role"];
    assert_eq!(role["kind"], "owner");
    assert_eq!(role["member_of"], serde_json::json!(["pg_read_all_data"]));
    assert!(
        note.contains("ran as the data's owner with the attributes and memberships"),
        "{note}"
    );

    // A role production does not have is named as missing, before any migration runs.
    let (code, _, report) = rehearse(
        &[("0001_reporting.sql", NEEDS_OWNER)],
        "tool: psql, role: {member_of: [no_such_role]}",
    );
    assert_eq!(code, Some(3));
    let error = report["databases"][0]["error"].as_str().unwrap();
    assert!(
        error.contains("role no_such_role named in role.member_of does not exist"),
        "{error}"
    );
}
