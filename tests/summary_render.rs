//! The public note rendered from a report full of things that must not reach the MR:
//! server messages and DETAIL lines, DDL literals, a relation named after data. The
//! snapshot pins the note's layout; the assertions pin what stays out.

use preflight::bridge::ServerError;
use preflight::observe::locks::LockHold;
use preflight::observe::StatementStat;
use preflight::pg::lock_mode::LockMode;
use preflight::pg::statement::classify;
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

const SOURCES: [&str; 2] = [
    "CREATE INDEX accounts_plan_idx ON accounts (plan);",
    "ALTER TABLE accounts ADD CONSTRAINT accounts_email_key UNIQUE (email);",
];

/// A run full of things that must not reach the MR, with migrations named `names`.
fn fixture(names: [&str; 3]) -> RunReport {
    let mut ok = migration(names[0], MigrationOutcome::Succeeded);
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
    ok.verdict = preflight::model::Verdict {
        blocking: Some(preflight::model::verdict::Blocking {
            table: "accounts".into(),
            reads: false,
            held_ms: 321.0,
            during: vec![preflight::model::verdict::Contributor {
                kind: "CREATE INDEX".into(),
                object: Some("accounts_plan_idx".into()),
                number: Some(1),
                ms: 318.0,
            }],
            other_tables: 1,
        }),
    };
    ok.findings = vec![preflight::model::Finding {
        statement: Some(preflight::model::StatementRef {
            number: Some(1),
            line: Some(1),
            kind: "CREATE INDEX".into(),
            trace_index: 2,
        }),
        impact: preflight::model::Impact {
            reads_blocked_ms: 0.0,
            writes_blocked_ms: 321.0,
        },
        ..preflight::analyze::finding(preflight::model::RuleId::I01, "accounts_plan_idx", None)
    }
    .with(preflight::analyze::Evidence::new("SHARE held", 321.0, "ms").on("accounts"))];
    let mut failed = migration(names[1], MigrationOutcome::Failed);
    failed.sqlstate = Some("23505".into());
    failed.server_errors = vec![ServerError {
        sqlstate: "23505".into(),
        severity: "ERROR".into(),
        message: "could not create unique index \"accounts_email_key\"".into(),
        detail: Some("Key (email)=(leaked-person@example.com) is duplicated.".into()),
    }];
    RunReport {
        schema_version: preflight::model::report::SCHEMA_VERSION,
        run_id: "pf-1-abc".into(),
        head_sha: Some("0123456789abcdef0123456789abcdef01234567".into()),
        base_sha: None,
        started_at: "2026-11-21T10:00:00Z".into(),
        job_url: Some("https://gitlab.example.com/db/preflight/-/jobs/1".into()),
        replication_bytes_per_second: 64.0 * 1024.0 * 1024.0,
        slow_statement_ms: 100.0,
        databases: vec![DatabaseReport {
            migrations: vec![
                ok,
                failed,
                MigrationReport::skipped(
                    names[2].into(),
                    format!("db/migrations/{}.sql", names[2]),
                ),
            ],
            ..DatabaseReport::named("main")
        }],
        cancelled: false,
        withheld: vec![],
        gate_error: None,
        cleanup_failures: Vec::new(),
        // The fixture's second migration failed.
        ending: preflight::model::Ending::MigrationFailed,
        facts: Default::default(),
        refused: Vec::new(),
    }
}

const NAMES: [&str; 3] = [
    "0002_index_accounts_plan",
    "0004_unique_account_email",
    "0005_later",
];

fn note_of(report: &RunReport) -> String {
    let summary = PublicSummary::build(
        report,
        &SourceWords::from_sources(SOURCES.into_iter().chain(PATHS)),
        preflight::config::file::DEFAULT_DOCS_URL,
    );
    Renderer::new(None).unwrap().summary(&summary).unwrap()
}

/// The migrations' paths: the MR's own words, like its SQL.
const PATHS: [&str; 1] = ["db/migrations/0002_index_accounts_plan.sql"];

#[test]
fn public_note_carries_no_server_text_and_only_source_names() {
    let note = note_of(&fixture(NAMES));

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
        note.contains("(a table the migrations do not name)"),
        "{note}"
    );
    assert!(
        note.contains("**`0002_index_accounts_plan`**: blocks writes of `accounts` for 320 ms, while CREATE INDEX `accounts_plan_idx` (statement 1) ran 320 ms (1 more tables blocked). One cause:"),
        "the verdict line first: {note}"
    );
    assert!(
        note.contains("`accounts_plan_idx`; statement 1 (CREATE INDEX) at `db/migrations/0002_index_accounts_plan.sql:1` | SHARE held on accounts 320 ms |"),
        "the cause, where it is and its evidence: {note}"
    );
    assert!(note.contains("+230 KiB"), "{note}");
    insta::assert_snapshot!(note);
}

/// The note as GitLab's Markdown flavour renders it (CommonMark + GFM tables, autolinks,
/// strikethrough; raw HTML kept for `<details>`).
fn html_of(note: &str) -> String {
    let mut options = comrak::Options::default();
    options.extension.table = true;
    options.extension.autolink = true;
    options.extension.strikethrough = true;
    options.render.r#unsafe = true;
    comrak::markdown_to_html(note, &options)
}

/// The text of every `<code>` element, and the HTML with those elements taken out.
fn split_code(html: &str) -> (Vec<String>, String) {
    let (mut codes, mut rest) = (Vec::new(), String::new());
    let mut left = html;
    while let Some(start) = left.find("<code>") {
        rest.push_str(&left[..start]);
        let after = &left[start + 6..];
        let end = after.find("</code>").expect("closed code");
        codes.push(after[..end].to_string());
        left = &after[end + 7..];
    }
    rest.push_str(left);
    (codes, rest)
}

#[test]
fn the_note_renders_as_intended_with_any_names() {
    let hostile = [
        "0002_ping_@all_see_https://evil.example/x_and_#1",
        "0004_a|b`c_<script>alert(1)</script>_$x$",
        "0005_**bold**_~~gone~~_\\_back",
    ];
    for names in [NAMES, hostile] {
        let html = html_of(&note_of(&fixture(names)));
        let (codes, outside) = split_code(&html);
        for name in names {
            let shown: String = name
                .replace('&', "&amp;")
                .replace('<', "&lt;")
                .replace('>', "&gt;");
            assert!(
                codes.contains(&shown),
                "{name:?} is not shown as code, as it is:\n{html}"
            );
        }
        for c in &codes {
            assert!(
                !c.contains("&amp;gt;") && !c.contains("&amp;lt;"),
                "double escaped: {c}"
            );
            let escape_shown = c.contains('\\') && !names.iter().any(|n| n.contains('\\'));
            assert!(!escape_shown, "a Markdown escape shows in code: {c}");
        }
        for mark in [
            "@all",
            "<script",
            "<a ",
            "<strong>bold",
            "<del>",
            "evil.example",
        ] {
            // The job's link and each finding's page are the note's own links.
            let expected = match mark {
                "<a " => {
                    usize::from(html.contains("gitlab.example.com/db/preflight"))
                        + outside
                            .matches("<a href=\"https://gitlab.com/preflight-ci/")
                            .count()
                }
                _ => 0,
            };
            let count = outside.matches(mark).count();
            assert_eq!(count, expected, "{mark:?} outside code:\n{html}");
        }
        // Every table row has as many cells as its header: no name broke a table.
        for table in html.split("<table>").skip(1) {
            let table = &table[..table.find("</table>").unwrap()];
            let mut rows = table.split("<tr>").skip(1);
            let header = rows.next().unwrap().matches("<th").count();
            for row in rows {
                assert_eq!(
                    row.matches("<td").count(),
                    header,
                    "a row broke its table:\n{table}"
                );
            }
        }
    }
}

/// A note with one finding of every id renders as a table with each id linked to its page,
/// the evidence next to its threshold, and no Markdown escape left visible.
#[test]
fn a_note_with_every_finding_renders_each_id_linked() {
    use preflight::analyze::{Evidence, RULES};
    let mut report = fixture(NAMES);
    report.databases[0].migrations[0].findings = RULES
        .iter()
        .map(|r| {
            preflight::analyze::finding(r.id, "accounts", None)
                .with(Evidence::new("SHARE held", 1234.0, "ms").against(1000.0))
        })
        .collect();
    // More ids than the note's 40 rows: the rows it shows, then the full list uncut.
    let capped = note_of(&report);
    assert_eq!(capped.matches("| [PF-").count(), 40, "{capped}");
    assert!(
        capped.contains(&format!(
            "{} more causes of `0002_index_accounts_plan` are in the full report.",
            RULES.len() - 40
        )),
        "{capped}"
    );
    let summary = PublicSummary::build_uncut(
        &report,
        &SourceWords::from_sources(SOURCES),
        preflight::config::file::DEFAULT_DOCS_URL,
    );
    let note = Renderer::new(None).unwrap().summary(&summary).unwrap();
    let html = html_of(&note);
    for r in RULES {
        let link = format!(
            "<a href=\"{}/{}.md\">{}</a>",
            preflight::config::file::DEFAULT_DOCS_URL,
            r.id.as_str(),
            r.id.as_str()
        );
        assert!(html.contains(&link), "{link} not in:\n{html}");
    }
    assert!(html.contains("SHARE held 1.2 s (threshold 1 s)"), "{html}");
    assert!(
        !html.contains("\\"),
        "a backslash escape shows in the rendered note"
    );
}

#[test]
fn blocking_is_totalled_per_migration_and_for_the_mr() {
    // The fixture's first migration: SHARE 5..326 ms, ACCESS EXCLUSIVE 5..45 ms.
    let note = note_of(&fixture(NAMES));
    assert!(
        note.contains("could not read some table that existed before for 40 ms, and could not write one for 320 ms"),
        "{note}"
    );
    let row = note
        .lines()
        .find(|l| l.starts_with("| `0002_index_accounts_plan`"))
        .unwrap();
    assert!(row.ends_with("| 40 ms | 320 ms |"), "{row}");
    let later = note
        .lines()
        .find(|l| l.starts_with("| `0005_later`"))
        .unwrap();
    assert!(later.ends_with("| – | – |"), "{later}");
}

/// Lemmy's shape: 18 migrations, each with a way back that came back clean, several
/// causes and one error among them, long names. Within the budget, every migration keeps
/// its verdict and its worst cause; clean way-back rows go before causes do.
#[test]
fn eighteen_migrations_with_ways_back_each_keep_their_verdict_and_worst_cause() {
    use preflight::analyze::{finding, Evidence};
    use preflight::model::RuleId;
    let mut report = fixture(NAMES);
    let template = report.databases[0].migrations[0].clone();
    let mut sources: Vec<String> = SOURCES.iter().map(|s| s.to_string()).collect();
    report.databases[0].migrations = (0..18)
        .map(|i| {
            let mut m = template.clone();
            m.name = format!("2023-{i:02}-01-000000_a_long_descriptive_migration_name_{i}");
            m.path = format!("migrations/{}/up.sql", m.name);
            sources.push(m.path.clone());
            m.findings = [RuleId::I05, RuleId::L01, RuleId::L02, RuleId::S01]
                .iter()
                .map(|id| {
                    finding(*id, "accounts", None)
                        .with(Evidence::new("ACCESS EXCLUSIVE held", 98_000.0, "ms").on("accounts"))
                })
                .collect();
            let down = preflight::report::MigrationReport {
                name: format!("{} (down)", m.name),
                ..template.clone()
            };
            m.way_back = Some(preflight::model::report::WayBack {
                down: Box::new(down.clone()),
                differences: Vec::new(),
                up_again: Some(Box::new(down)),
            });
            m
        })
        .collect();
    let summary = PublicSummary::build(
        &report,
        &SourceWords::from_sources(sources.iter().map(String::as_str)),
        preflight::config::file::DEFAULT_DOCS_URL,
    );
    let note = Renderer::new(None).unwrap().summary(&summary).unwrap();
    assert!(
        note.len() <= preflight::report::NOTE_BUDGET,
        "{} bytes",
        note.len()
    );
    eprintln!(
        "eighteen migrations: {} bytes, trimmed: {}",
        note.len(),
        note.contains("kept short")
    );
    for m in &report.databases[0].migrations {
        let verdict = format!("**`{}`**: ", m.name);
        let at = note
            .find(&verdict)
            .unwrap_or_else(|| panic!("no verdict for {}:\n{note}", m.name));
        let after = &note[at..];
        let next = after[verdict.len()..]
            .find("**`")
            .map_or(after.len(), |i| i + verdict.len());
        assert!(
            after[..next].contains("[PF-I05]"),
            "{}'s worst cause is not shown:\n{}",
            m.name,
            &after[..next]
        );
    }
}

#[test]
fn a_long_mr_stays_within_the_budget_and_says_where_the_rest_is() {
    use preflight::analyze::{finding, Evidence};
    use preflight::model::RuleId;
    let mut report = fixture(NAMES);
    let template = report.databases[0].migrations[0].clone();
    report.databases[0].migrations = (0..80)
        .map(|i| {
            let mut m = template.clone();
            m.name = format!("{i:04}_index_accounts_plan");
            m.statements = (0..30)
                .map(|_| stat("UPDATE accounts SET plan = $1 WHERE id < $2", 12.0, 1200))
                .collect();
            m.findings = vec![finding(RuleId::I01, "accounts", None)
                .with(Evidence::new("SHARE held", 1234.0, "ms").against(1000.0))];
            m
        })
        .collect();
    let note = note_of(&report);
    assert!(
        note.len() <= preflight::report::NOTE_BUDGET,
        "{} bytes",
        note.len()
    );
    assert!(
        note.contains("the rest of the detail is in the full report"),
        "{note}"
    );
    assert!(
        note.contains("[PF-I01]"),
        "findings come first and stay: {note}"
    );
    assert!(
        note.contains("| `0000_index_accounts_plan` |"),
        "the first migrations stay: {note}"
    );
    // A short note is left whole.
    assert!(!note_of(&fixture(NAMES)).contains("the rest of the detail"));
}

#[test]
fn history_and_run_lines_render_as_a_folded_table_and_stay_hidden() {
    use preflight::report::history::{self, PastRun, MAX_RUNS};
    let sha = |i: usize| format!("{i:040x}");
    let earlier: Vec<PastRun> = (0..25)
        .map(|i| PastRun::new(&sha(i + 1), "2026-11-22T09:30:00Z", "failure", i).unwrap())
        .collect();
    let mut report = fixture(NAMES);
    report.head_sha = Some(sha(100));
    let summary = PublicSummary::build(
        &report,
        &SourceWords::from_sources(SOURCES),
        preflight::config::file::DEFAULT_DOCS_URL,
    )
    .with_history("2026-11-23T10:00:00Z", earlier[..2].to_vec());
    let note = Renderer::new(None).unwrap().summary(&summary).unwrap();
    let html = html_of(&note);
    assert!(
        html.contains("<summary>History: 2 earlier runs on this merge request</summary>"),
        "{html}"
    );
    assert!(
        html.contains("<td><code>000000000000</code></td>\n<td>2026-11-22 09:30 UTC</td>\n<td>a migration failed</td>"),
        "{html}"
    );
    assert!(
        !html.contains("preflight-run</"),
        "no run line shows as text: {html}"
    );
    assert_eq!(
        html.matches("<!-- preflight-run ").count(),
        3,
        "this run's line and two earlier ones, kept as HTML comments: {html}"
    );
    // The next run reads this run first, then the earlier ones, at most MAX_RUNS.
    let read = history::read(&note);
    assert_eq!(read.len(), 3);
    assert_eq!(read[0].sha, sha(100));
    assert_eq!(read[0].status, "failure");
    let long = summary.with_history("2026-11-23T10:00:00Z", earlier);
    let note = Renderer::new(None).unwrap().summary(&long).unwrap();
    assert_eq!(history::read(&note).len(), MAX_RUNS);
}

#[test]
fn the_placeholder_says_what_is_being_rehearsed() {
    let summary = PublicSummary::placeholder(
        Some("0123456789abcdef0123456789abcdef01234567"),
        Some("https://gitlab.example.com/db/preflight/-/jobs/5"),
        3,
    );
    let note = Renderer::new(None).unwrap().summary(&summary).unwrap();
    let html = html_of(&note);
    assert!(
        html.contains("preflight: rehearsing 3 migrations on a production clone ..."),
        "{html}"
    );
    assert!(
        html.contains(
            "<a href=\"https://gitlab.example.com/db/preflight/-/jobs/5\">protected job</a>"
        ),
        "{html}"
    );
    assert!(!html.contains("Database"), "nothing to show yet: {html}");
}

/// A traced statement of `kind` that ran from `from` to `to` ms.
fn traced(
    index: usize,
    kind: &str,
    from: f64,
    to: f64,
) -> preflight::trace::timeline::TracedStatement {
    preflight::trace::timeline::TracedStatement {
        index,
        number: Some(index),
        line: Some(index),
        transaction: index,
        pid: 1,
        text: "SELECT secret_text_of_the_statement".into(),
        kind: kind.into(),
        objects: vec![],
        extended: false,
        started_ms: from,
        ended_ms: to,
        tag: None,
        rows: None,
        sqlstate: None,
        tx_before: 'I',
        tx_after: 'I',
        lock_timeout: None,
        locks: vec![],
        folded_before: 0,
    }
}

#[test]
fn the_note_draws_runtimes_and_slowest_statements_as_mermaid_charts_the_gate_lets_through() {
    use preflight::report::charts::STATEMENTS_DRAWN;
    use preflight::report::gate::{gate, Vocabulary};
    let mut report = fixture(NAMES);
    let migrations = &mut report.databases[0].migrations;
    migrations[0].wall_s = 0.05;
    migrations[1].wall_s = 75.0;
    migrations[0].trace.statements = (1..=25)
        .map(|i| {
            let kind = match i {
                7 => "UNPARSED",
                9 => "CREATE INDEX",
                _ => "UPDATE",
            };
            let took = if i == 9 { 1234.5 } else { i as f64 };
            traced(i, kind, 10.0 * i as f64, 10.0 * i as f64 + took)
        })
        .collect();
    let note = note_of(&report);

    let runtimes = "```mermaid\nxychart-beta\n    title \"Migrations by runtime\"";
    assert!(note.contains(runtimes), "{note}");
    assert!(
        note.contains("bar [1, 0, 0, 0, 1, 0]"),
        "one under 0.1 s, one 1 to 5 min: {note}"
    );
    let drawn = format!("(the {STATEMENTS_DRAWN} slowest; 5 other statements are not drawn)");
    assert!(note.contains(&drawn), "{note}");
    // The 20 slowest, in order: 6, 7 (a statement the parser could not read), 8, 9 ...
    assert!(
        note.contains(
            r#"x-axis ["6 UPDATE", "7 statement", "8 UPDATE", "9 CREATE INDEX", "10 UPDATE""#
        ),
        "{note}"
    );
    assert!(note.contains("bar [6, 7, 8, 1200, 10, 11,"), "{note}");
    assert!(!note.contains("secret_text"), "{note}");

    let renderer = Renderer::new(None).unwrap();
    let mut vocab =
        Vocabulary::default().with_closed_vocabularies(preflight::report::closed_words::all());
    vocab.add_template(renderer.summary_source());
    for text in SOURCES.iter().chain(&NAMES) {
        vocab.add_text(text);
    }
    vocab.add_text("https://gitlab.example.com/db/preflight/-/jobs/1 0123456789ab");
    let gated = gate(&note, &vocab, renderer.gate_texts()).unwrap();
    let charts: Vec<_> = gated
        .withheld
        .iter()
        .filter(|w| {
            note.lines()
                .nth(w.line - 1)
                .is_some_and(|l| l.contains("mermaid"))
        })
        .collect();
    assert!(
        charts.is_empty(),
        "the gate withheld a chart: {charts:?}\n{note}"
    );
    assert_eq!(
        gated.note.matches("```mermaid").count(),
        2,
        "{}",
        gated.note
    );
}
