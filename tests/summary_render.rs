//! The public note rendered from a report full of things that must not reach the MR:
//! server messages and DETAIL lines, DDL literals, a relation named after data. The
//! snapshot pins the note's layout; the assertions pin what stays out.

use preflight::bridge::ServerError;
use preflight::observe::lock_mode::LockMode;
use preflight::observe::locks::LockHold;
use preflight::observe::statement::classify;
use preflight::observe::StatementStat;
use preflight::report::{
    DatabaseReport, MigrationOutcome, MigrationReport, PublicSummary, Renderer, RunReport,
    SourceWords,
};

fn stat(query: &str, max_ms: f64, rows: i64) -> StatementStat {
    StatementStat {
        query: query.into(),
        classified: classify(query).unwrap(),
        calls: 1,
        total_ms: max_ms,
        mean_ms: max_ms,
        max_ms,
        rows,
    }
}

fn migration(name: &str, outcome: MigrationOutcome) -> MigrationReport {
    MigrationReport {
        outcome,
        wall_s: 1.2345,
        size_before: 1_000_000,
        size_after: 1_234_567,
        ..MigrationReport::skipped(name.into(), format!("db/migrations/{name}.sql"))
    }
}

#[test]
fn public_note_carries_no_server_text_and_only_source_names() {
    let sources = [
        "CREATE INDEX accounts_plan_idx ON accounts (plan);",
        "ALTER TABLE accounts ADD CONSTRAINT accounts_email_key UNIQUE (email);",
    ];
    let mut ok = migration("0002_index_accounts_plan", MigrationOutcome::Succeeded);
    ok.statements = vec![
        stat(
            "CREATE INDEX accounts_plan_idx ON accounts (plan)",
            330.0,
            0,
        ),
        stat(
            "ALTER TABLE accounts ALTER COLUMN plan SET DEFAULT 'secret-default-literal'",
            2.0,
            0,
        ),
        stat("UPDATE accounts SET plan = $1 WHERE id < $2", 12.0, 1200),
        stat(
            "SELECT * FROM tbl_named_after_data_x9 WHERE id = $1",
            1.0,
            1,
        ),
    ];
    ok.locks = vec![
        LockHold {
            relation: "accounts".into(),
            relkind: "r".into(),
            mode: LockMode::Share,
            first_seen_ms: 5.0,
            held_ms: 321.0,
            preexisting: true,
        },
        LockHold {
            relation: "tbl_named_after_data_x9".into(),
            relkind: "r".into(),
            mode: LockMode::AccessExclusive,
            first_seen_ms: 5.0,
            held_ms: 40.0,
            preexisting: true,
        },
    ];
    let mut failed = migration("0004_unique_account_email", MigrationOutcome::Failed);
    failed.sqlstate = Some("23505".into());
    failed.server_errors = vec![ServerError {
        sqlstate: "23505".into(),
        severity: "ERROR".into(),
        message: "could not create unique index \"accounts_email_key\"".into(),
        detail: Some("Key (email)=(leaked-person@example.com) is duplicated.".into()),
    }];
    let report = RunReport {
        run_id: "pf-1-abc".into(),
        head_sha: Some("0123456789abcdef0123456789abcdef01234567".into()),
        base_sha: None,
        started_at: "2026-11-21T10:00:00Z".into(),
        job_url: Some("https://gitlab.example.com/db/preflight/-/jobs/1".into()),
        databases: vec![DatabaseReport {
            name: "main".into(),
            layout: None,
            clone: None,
            migrations: vec![
                ok,
                failed,
                MigrationReport::skipped(
                    "0005_later".into(),
                    "db/migrations/0005_later.sql".into(),
                ),
            ],
            error: None,
        }],
        cancelled: false,
        withheld: vec![],
        gate_error: None,
        cleanup_failures: Vec::new(),
    };
    let summary = PublicSummary::build(&report, &SourceWords::from_sources(sources));
    let note = Renderer::new(None).unwrap().summary(&summary).unwrap();

    for leak in [
        "leaked-person",
        "secret-default-literal",
        "tbl_named_after_data_x9",
        "could not create",
    ] {
        assert!(!note.contains(leak), "{leak:?} reached the note:\n{note}");
    }
    assert!(note.contains("`23505` unique_violation"), "{note}");
    assert!(
        note.contains("`accounts` | SHARE | writes | 320 ms"),
        "{note}"
    );
    assert!(
        note.contains("(a relation the migration does not name)"),
        "{note}"
    );
    assert!(note.contains("+230 KiB"), "{note}");
    insta::assert_snapshot!(note);
}
