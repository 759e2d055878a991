//! The public summary: the only thing that reaches the merge request.
//!
//! It is built from its own type, whose fields cannot carry free text from the run or
//! the clone (DESIGN.md rule 4): statement text only as normalized data statements whose
//! every identifier appears in the MR's own migration source; DDL as kind plus such
//! names; errors as SQLSTATE and condition name; relation names only where the MR's
//! source names them; numbers rounded to two significant figures. The wording lives in
//! the template.

pub use super::causes::PublicFinding;
use super::causes::{public_finding, PublicVerdict};
use super::charts::{runtime_histogram, statement_times, StatementTime};
use super::history::PastRun;
use super::rounding::{count, duration_ms, duration_s, size_change};
use super::source_words::SourceWords;
use super::sqlstate::{condition_name, is_sqlstate};
use crate::model::report::{MigrationOutcome, MigrationReport, RunReport};
use crate::model::tool::{Tool, Transaction};
use crate::observe::StatementStat;
use crate::pg::migration_role::MigrationRole;
use crate::trace::blocking::Blocked;
use serde::Serialize;

/// Marks the note preflight owns, so the next run edits it instead of adding another.
pub const NOTE_MARKER: &str = "<!-- preflight:summary -->";

/// The "migration" of a declared query's finding.
pub const QUERIES_LABEL: &str = "declared queries";

/// At most this many finding rows in the note; the rest are in the full report.
pub const NOTE_FINDINGS: usize = 40;

/// At most this many rows in the note's locks summary.
const LOCK_ROWS: usize = 10;

#[derive(Debug, Clone, Serialize)]
pub struct PublicStatement {
    pub kind: String,
    /// Normalized text of a data statement, when every name in it is a source word.
    pub text: Option<String>,
    /// Names the statement touches that the MR's source also names.
    pub objects: Vec<String>,
    /// True when text or names were left out because they are not source words.
    pub withheld: bool,
    pub calls: String,
    pub total: String,
    pub mean: String,
    pub max: String,
    pub rows: String,
    pub slow: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct PublicLock {
    /// The table's name, when the MR's source names it.
    pub relation: Option<String>,
    pub mode: &'static str,
    pub held: String,
    pub blocks: &'static str,
    /// The migration that held it longest.
    pub migration: String,
    #[serde(skip)]
    held_ms: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct PublicMigration {
    pub name: String,
    pub result: &'static str,
    pub sqlstate: Option<String>,
    pub condition: Option<&'static str>,
    pub runtime: String,
    /// The same, in seconds, rounded to two significant figures (for JUnit).
    pub runtime_s: f64,
    pub size_change: String,
    pub statements: Vec<PublicStatement>,
    /// Its slowest statements' times, for the note's chart ([`super::charts`]).
    pub statement_times: Vec<StatementTime>,
    /// Statements left out of that chart, rounded ("" when none).
    pub statement_times_cut: String,
    /// How long no / some pre-existing table could be read / written ("" when never).
    pub reads_blocked: String,
    pub writes_blocked: String,
    /// Its down and its up again, when it has a way back ([`super::way_back`]).
    pub way_back: Option<super::way_back::PublicWayBack>,
    /// What the generated traffic felt, rounded.
    pub traffic: Option<super::traffic::PublicTraffic>,
    /// WAL, replica lag and peak disk, rounded.
    pub resources: super::resources::PublicResources,
    /// The batched background migration it declares, sampled.
    pub batched: Option<super::batched::PublicBatched>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PublicWarning {
    /// `failed`, `timed_out`, `disk_limit`, `slow_migration`, `slow_statement`, `blocking_lock`.
    pub kind: &'static str,
    pub migration: String,
    pub value: String,
    pub threshold: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct PublicDatabase {
    pub name: String,
    /// The rehearsal of this database stopped on an infrastructure error.
    pub infrastructure_failed: bool,
    /// A clone was made for this database.
    pub cloned: bool,
    /// At least one migration ran on it (the note says what really happened).
    pub ran: bool,
    pub clone_ready: Option<String>,
    /// The tool whose transactions the files ran in (`diesel`, `golang_migrate` ...).
    pub tool: Option<&'static str>,
    /// Files that ran statement by statement although their tool uses a transaction.
    pub opted_out: usize,
    /// Command mode: the tool that ran them (`alembic`, `django`).
    pub command: Option<&'static str>,
    /// The kind of role the migrations ran as: `restricted`, `superuser` or `owner`.
    pub role: Option<&'static str>,
    /// The clone's PostgreSQL major version, once connected.
    pub server_major: Option<u32>,
    /// Production's, when configured and different from the clone's.
    pub production_major_differs: Option<u32>,
    /// A migration was refused a privilege (42501) by a role that is not a superuser:
    /// production's role may have more, and trusted configuration can say so.
    pub privilege_refused: bool,
    /// Every finding, flat (the JUnit and Code Quality reports).
    pub findings: Vec<PublicFinding>,
    /// Each migration with a cause: its verdict and its worst causes (the note).
    pub verdicts: Vec<PublicVerdict>,
    /// The declared queries' findings.
    pub query_findings: Vec<PublicFinding>,
    /// Per table, the strongest lock that blocked the application and for how long,
    /// longest first ...
    pub locks: Vec<PublicLock>,
    /// ... and how many tables more, rounded ("" when none).
    pub locks_more: String,
    /// How many tables more, exactly.
    pub locks_cut: usize,
    pub warnings: Vec<PublicWarning>,
    pub migrations: Vec<PublicMigration>,
    /// Migration rows left out of the note for its size.
    pub migrations_cut: usize,
    /// Its migrations' blocking, one after the other ("" when never).
    pub reads_blocked: String,
    pub writes_blocked: String,
    /// The MR's declared queries, planned before and after the migrations.
    pub queries: Vec<super::plans::PublicQuery>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PublicSummary {
    pub marker: &'static str,
    /// `success`, `findings` (over the policy), `failure`, `error`, `cancelled`,
    /// `nothing_to_do` ([`crate::model::Ending::headline`]), or `running` for the
    /// placeholder posted when the run starts.
    pub status: &'static str,
    pub head_sha: Option<String>,
    pub job_url: Option<String>,
    pub databases: Vec<PublicDatabase>,
    /// Migrations being rehearsed (the placeholder says how many).
    pub pending: usize,
    /// Findings in all, for this run's history line.
    pub findings: usize,
    /// This run's hidden history line, when its commit is known.
    pub run_line: Option<String>,
    /// Earlier runs on this MR, newest first ([`history`](super::history)).
    pub history: Vec<PastRun>,
    /// The whole MR's blocking, every database's migrations one after the other.
    pub reads_blocked: String,
    pub writes_blocked: String,
    /// The whole MR's time, WAL and peak disk, when any migration ran.
    pub totals: Option<super::resources::PublicTotals>,
    /// Migrations that ran, by runtime bucket ([`super::charts::RUNTIME_BUCKETS_S`]).
    pub runtime_histogram: Vec<usize>,
    /// Detail was left out to keep the note within its size budget.
    pub trimmed: bool,
    /// The MR's files that break a rule, when the run was refused.
    pub refused: Vec<PublicRefusal>,
}

/// A refused file: its path where it is plain text the MR spells, and the rule.
#[derive(Debug, Clone, Serialize)]
pub struct PublicRefusal {
    pub path: Option<String>,
    pub rule: crate::model::refusal::Rule,
}

fn statement(s: &StatementStat, words: &SourceWords, slow_ms: f64) -> PublicStatement {
    let c = &s.classified;
    let text = c.normalized.as_ref().filter(|t| words.covers(t)).cloned();
    let objects: Vec<String> = c
        .objects
        .iter()
        .filter(|o| words.knows(o))
        .cloned()
        .collect();
    PublicStatement {
        kind: c.kind.clone(),
        withheld: (c.is_dml && text.is_none()) || objects.len() < c.objects.len(),
        text,
        objects,
        calls: count(s.calls),
        total: duration_ms(s.total_ms),
        mean: duration_ms(s.mean_ms),
        max: duration_ms(s.max_ms),
        rows: count(s.rows),
        slow: s.max_ms > slow_ms,
    }
}

/// One row per table: the strongest lock that blocked the application and its longest
/// hold, over every migration of the database (from the trace, with an index's lock
/// shown on its table; from the sampler where there was no trace); longest first.
fn locks(migrations: &[MigrationReport], words: &SourceWords) -> (Vec<PublicLock>, usize) {
    let mut rows: Vec<PublicLock> = Vec::new();
    for m in migrations {
        let held: Vec<(&str, crate::pg::lock_mode::LockMode, f64)> = if m.trace.locks.is_empty() {
            m.locks
                .iter()
                .filter(|l| l.preexisting)
                .map(|l| (l.relation.as_str(), l.mode, l.held_ms))
                .collect()
        } else {
            m.trace
                .locks
                .iter()
                .filter(|l| l.preexisting)
                .map(|l| (l.table.as_str(), l.mode, l.held_ms))
                .collect()
        };
        for (table, mode, held_ms) in held {
            let Some(blocks) = mode.blocks() else {
                continue;
            };
            let relation = words.knows(table).then(|| table.to_string());
            let row = PublicLock {
                relation: relation.clone(),
                mode: mode.sql_name(),
                held: duration_ms(held_ms),
                blocks,
                migration: m.name.clone(),
                held_ms,
            };
            match rows
                .iter_mut()
                .find(|r| r.relation == relation && relation.is_some())
            {
                Some(r) if held_ms > r.held_ms => *r = row,
                Some(_) => {}
                None => rows.push(row),
            }
        }
    }
    rows.sort_by(|a, b| b.held_ms.total_cmp(&a.held_ms));
    let more = rows.len().saturating_sub(LOCK_ROWS);
    rows.truncate(LOCK_ROWS);
    (rows, more)
}

/// A blocking time, or "" when nothing was blocked.
fn blocked_for(ms: f64) -> String {
    if ms > 0.0 {
        duration_ms(ms)
    } else {
        String::new()
    }
}

/// The major version of a `server_version` (`15.8`, `16beta1`, `17.0 (Debian ...)`).
fn major_version(v: &str) -> Option<u32> {
    let digits: String = v.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

fn migration(
    m: &MigrationReport,
    words: &SourceWords,
    replication_rate: f64,
    slow_ms: f64,
    warnings: &mut Vec<PublicWarning>,
) -> PublicMigration {
    let sqlstate = m.sqlstate.clone().filter(|c| is_sqlstate(c));
    let mut warn = |kind, value: String, threshold: String| {
        warnings.push(PublicWarning {
            kind,
            migration: m.name.clone(),
            value,
            threshold,
        })
    };
    match m.outcome {
        MigrationOutcome::Failed => warn(
            "failed",
            sqlstate.clone().unwrap_or_default(),
            String::new(),
        ),
        MigrationOutcome::TimedOut => warn("timed_out", duration_s(m.wall_s), String::new()),
        MigrationOutcome::DiskLimit => warn(
            "disk_limit",
            size_change(m.size_after - m.size_before),
            String::new(),
        ),
        _ => {}
    }
    let statements: Vec<PublicStatement> = m
        .statements
        .iter()
        .map(|s| statement(s, words, slow_ms))
        .collect();
    let blocked = m.blocked();
    let (statement_times, cut) = statement_times(m);
    PublicMigration {
        statement_times,
        statement_times_cut: if cut > 0 {
            count(cut as i64)
        } else {
            String::new()
        },
        reads_blocked: blocked_for(blocked.reads_ms),
        writes_blocked: blocked_for(blocked.writes_ms),
        name: m.name.clone(),
        result: m.outcome.result(),
        condition: sqlstate.as_deref().and_then(condition_name),
        sqlstate,
        runtime: duration_s(m.wall_s),
        runtime_s: super::rounding::sig2(m.wall_s.max(0.0)),
        size_change: size_change(m.size_after - m.size_before),
        statements,
        way_back: super::way_back::public(m, words),
        traffic: m.traffic.as_ref().map(super::traffic::public),
        resources: super::resources::public(m, replication_rate),
        batched: m.batched.as_ref().map(|b| super::batched::public(b, words)),
    }
}

impl PublicSummary {
    /// Builds the summary from the full report, showing names only where `words` has
    /// them; findings link to their pages under `docs_url`.
    pub fn build(report: &RunReport, words: &SourceWords, docs_url: &str) -> PublicSummary {
        Self::build_capped(report, words, docs_url, NOTE_FINDINGS)
    }

    /// Every finding, none cut (the JUnit and Code Quality reports).
    pub fn build_uncut(report: &RunReport, words: &SourceWords, docs_url: &str) -> PublicSummary {
        Self::build_capped(report, words, docs_url, usize::MAX)
    }

    fn build_capped(
        report: &RunReport,
        words: &SourceWords,
        docs_url: &str,
        cap: usize,
    ) -> PublicSummary {
        let mut databases: Vec<PublicDatabase> = report
            .databases
            .iter()
            .map(|d| {
                let mut warnings = Vec::new();
                let migrations = d
                    .migrations
                    .iter()
                    .map(|m| {
                        migration(
                            m,
                            words,
                            report.replication_bytes_per_second,
                            report.slow_statement_ms,
                            &mut warnings,
                        )
                    })
                    .collect();
                let mut findings: Vec<PublicFinding> = Vec::new();
                let mut verdicts: Vec<PublicVerdict> = Vec::new();
                for m in &d.migrations {
                    let path = words.knows_path(&m.path).then_some(m.path.as_str());
                    let causes: Vec<PublicFinding> = m
                        .findings
                        .iter()
                        .map(|f| public_finding(f, &m.name, path, words, docs_url))
                        .collect();
                    // A down's own causes (its locks, its drops) matter when rolling
                    // back: the reporters list them, the note counts them.
                    let down: Vec<PublicFinding> = m
                        .way_back
                        .iter()
                        .flat_map(|b| {
                            let name = format!("{} (down)", m.name);
                            let down_path = b.down.path.as_str();
                            let down_path = words.knows_path(down_path).then_some(down_path);
                            b.down
                                .findings
                                .iter()
                                .map(move |f| public_finding(f, &name, down_path, words, docs_url))
                                .collect::<Vec<_>>()
                        })
                        .collect();
                    findings.extend(causes.iter().chain(&down).cloned());
                    if !causes.is_empty() || m.verdict.blocking.is_some() {
                        let mut v = super::causes::verdict(&m.name, &m.verdict, causes, words);
                        v.down_causes = if down.is_empty() {
                            String::new()
                        } else {
                            count(down.len() as i64)
                        };
                        verdicts.push(v);
                    }
                }
                let query_findings: Vec<PublicFinding> = d
                    .queries
                    .iter()
                    .flat_map(|q| {
                        q.findings
                            .iter()
                            .map(|f| public_finding(f, QUERIES_LABEL, None, words, docs_url))
                    })
                    .collect();
                findings.extend(query_findings.iter().cloned());
                let (locks, locks_cut) = locks(&d.migrations, words);
                let blocked = d.blocked();
                PublicDatabase {
                    reads_blocked: blocked_for(blocked.reads_ms),
                    writes_blocked: blocked_for(blocked.writes_ms),
                    name: d.name.clone(),
                    infrastructure_failed: d.error.is_some(),
                    cloned: d.clone.is_some(),
                    ran: d
                        .migrations
                        .iter()
                        .any(|m| m.outcome != MigrationOutcome::Skipped),
                    clone_ready: d.clone.as_ref().map(|c| duration_s(c.ready_seconds)),
                    tool: d.tool.map(Tool::id),
                    opted_out: d
                        .migrations
                        .iter()
                        .filter(|m| {
                            m.transaction == Some(Transaction::PerStatement)
                                && d.tool != Some(Tool::Psql)
                        })
                        .count(),
                    command: d.command.map(crate::model::tool::CommandTool::id),
                    role: d.role.as_ref().map(MigrationRole::kind),
                    server_major: d.server_version.as_deref().and_then(major_version),
                    production_major_differs: d.production_version.filter(|p| {
                        d.server_version.as_deref().and_then(major_version) != Some(*p)
                            && d.server_version.is_some()
                    }),
                    privilege_refused: d.role != Some(MigrationRole::Superuser)
                        && d.migrations
                            .iter()
                            .any(|m| m.sqlstate.as_deref() == Some("42501")),
                    findings,
                    verdicts,
                    query_findings,
                    locks,
                    locks_more: if locks_cut > 0 {
                        count(locks_cut as i64)
                    } else {
                        String::new()
                    },
                    locks_cut,
                    warnings,
                    migrations,
                    migrations_cut: 0,
                    queries: d
                        .queries
                        .iter()
                        .map(|q| super::plans::public(q, words))
                        .collect(),
                }
            })
            .collect();
        super::causes::fit(databases.iter_mut().flat_map(|d| &mut d.verdicts), cap);
        // How the run ended was decided once ([`crate::model::decide`]).
        let status = report.ending.headline();
        let blocked = report
            .databases
            .iter()
            .fold(Blocked::default(), |b, d| b.then(d.blocked()));
        PublicSummary {
            marker: NOTE_MARKER,
            status,
            reads_blocked: blocked_for(blocked.reads_ms),
            writes_blocked: blocked_for(blocked.writes_ms),
            totals: super::resources::totals(report),
            trimmed: false,
            runtime_histogram: runtime_histogram(report),
            head_sha: report
                .head_sha
                .clone()
                .filter(|s| s.len() <= 64 && s.bytes().all(|b| b.is_ascii_hexdigit())),
            job_url: report.job_url.clone(),
            pending: report.migration_count(),
            findings: report
                .databases
                .iter()
                .flat_map(|d| &d.migrations)
                .map(|m| {
                    m.findings.len() + m.way_back.as_ref().map_or(0, |b| b.down.findings.len())
                })
                .sum::<usize>()
                + report
                    .databases
                    .iter()
                    .flat_map(|d| &d.queries)
                    .map(|q| q.findings.len())
                    .sum::<usize>(),
            run_line: None,
            history: Vec::new(),
            databases,
            refused: report
                .refused
                .iter()
                .map(|r| PublicRefusal {
                    path: words.knows_path(&r.path).then(|| r.path.clone()),
                    rule: r.rule,
                })
                .collect(),
        }
    }

    /// The note that replaces the placeholder of a run killed before it finished.
    pub fn stopped(head_sha: Option<&str>, job_url: Option<&str>) -> Self {
        PublicSummary {
            status: "stopped",
            ..Self::placeholder(head_sha, job_url, 0)
        }
    }

    /// The note posted when the run starts: `pending` migrations are being rehearsed.
    pub fn placeholder(head_sha: Option<&str>, job_url: Option<&str>, pending: usize) -> Self {
        PublicSummary {
            marker: NOTE_MARKER,
            status: "running",
            head_sha: head_sha.map(str::to_string),
            job_url: job_url.map(str::to_string),
            databases: Vec::new(),
            reads_blocked: String::new(),
            writes_blocked: String::new(),
            totals: None,
            trimmed: false,
            runtime_histogram: Vec::new(),
            pending,
            findings: 0,
            run_line: None,
            history: Vec::new(),
            refused: Vec::new(),
        }
    }

    /// Records this run as finished `at` (RFC 3339, UTC) on its commit, after `history`.
    pub fn with_history(mut self, at: &str, history: Vec<PastRun>) -> Self {
        self.run_line = self
            .head_sha
            .as_deref()
            .and_then(|sha| PastRun::new(sha, at, self.status, self.findings))
            .map(|r| r.line);
        self.history = history;
        self
    }
}
