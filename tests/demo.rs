//! The README's first command: `preflight demo` rehearses the bundled example migrations on
//! the built-in engine and prints the comment `run` would post. What a new user sees must
//! hold: the PF-I01 index build, the backfill, the failing unique constraint with its
//! SQLSTATE, and the major the clone ran.

mod common;

use common::*;

#[test]
fn the_demo_rehearses_the_examples_and_prints_the_mr_comment() {
    // A pool of its own, so the demo builds its dataset as on a fresh machine.
    let tmp = tempfile::tempdir().unwrap();
    let out = preflight(&[("TMPDIR", tmp.path().display().to_string())], &["demo"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let comment = String::from_utf8_lossy(&out.stdout);
    assert!(
        comment.contains("the comment preflight would post on the merge request"),
        "{comment}"
    );
    assert!(
        comment.contains(":x: preflight: a migration failed on a production clone"),
        "{comment}"
    );
    for expected in [
        "`0002_index_accounts_plan`",
        "PF-I01",
        "`0003_backfill_orders_total`",
        "`0004_unique_account_email`",
        "23505",
        "Migrations ran on a thin clone of the production database (PostgreSQL ",
    ] {
        assert!(comment.contains(expected), "{expected}: {comment}");
    }
}
