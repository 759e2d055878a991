//! The result of a run, in full: report.json's top level, what the maintainers see in
//! the job log and the artifacts. It holds server messages, box output paths and raw
//! statement text, so it is never rendered into the MR note; [`crate::report::public`]
//! builds the note's own type.

use crate::model::clone::CloneInfo;
use crate::model::observed::{Difference, LockHold, StatementStat};
use crate::model::tool::Layout;
use crate::model::tool::{Tool, Transaction};
use crate::model::trace::Timeline;
use crate::model::Finding;
use crate::pg::migration_role::MigrationRole;
use crate::pgwire::messages::ServerMessage as ServerError;
use serde::Serialize;

/// report.json's schema version: raised when a field is renamed or removed or changes
/// meaning (added fields keep it). 2: findings are causes, with verdicts and one ending;
/// the trace counts what it does not list.
pub const SCHEMA_VERSION: u32 = 2;

#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    /// [`SCHEMA_VERSION`].
    pub schema_version: u32,
    pub run_id: String,
    pub head_sha: Option<String>,
    pub base_sha: Option<String>,
    pub started_at: String,
    pub job_url: Option<String>,
    pub databases: Vec<DatabaseReport>,
    pub cancelled: bool,
    /// Items the leak gate withheld from the MR note, and the words why.
    pub withheld: Vec<crate::model::gate::Withheld>,
    /// Why the gate could not run, when it failed closed.
    pub gate_error: Option<String>,
    /// How fast production's replicas replay WAL (`findings.replication_bytes_per_second`),
    /// for the replica lag estimates.
    pub replication_bytes_per_second: f64,
    /// A data statement slower than this is marked slow (`findings.statement_ms`).
    pub slow_statement_ms: f64,
    /// Resources cleanup could not remove (a clone, a box): the operators' to sweep.
    pub cleanup_failures: Vec<String>,
    /// How the run ended, and the facts that decided it ([`crate::model::decide`]).
    pub ending: crate::model::Ending,
    pub facts: crate::model::Facts,
    /// The MR's files that break a rule, when the run was refused.
    pub refused: Vec<crate::model::refusal::Refusal>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DatabaseReport {
    pub name: String,
    pub layout: Option<Layout>,
    /// The tool whose transactions the files ran in.
    pub tool: Option<Tool>,
    /// Command mode: the tool that ran the migrations itself.
    pub command: Option<crate::model::tool::CommandTool>,
    /// The role the migrations ran as (production's, from trusted configuration).
    pub role: Option<MigrationRole>,
    /// The clone's PostgreSQL version (`15.8`), once connected.
    pub server_version: Option<String>,
    /// Production's major version, when configured.
    pub production_version: Option<u32>,
    pub clone: Option<CloneInfo>,
    pub migrations: Vec<MigrationReport>,
    /// The MR's declared queries, planned before and after the migrations.
    pub queries: Vec<QueryReport>,
    /// An infrastructure error that stopped this database's rehearsal.
    pub error: Option<String>,
}

pub use super::MigrationOutcome;

#[derive(Debug, Clone, Serialize)]
pub struct MigrationReport {
    pub name: String,
    pub path: String,
    pub outcome: MigrationOutcome,
    /// How the file reached the server (its tool's transaction), when it ran.
    pub transaction: Option<Transaction>,
    pub exit_code: Option<i64>,
    /// The SQLSTATE of the error that ended the migration, from the server.
    pub sqlstate: Option<String>,
    pub server_errors: Vec<ServerError>,
    pub wall_s: f64,
    pub size_before: i64,
    pub size_after: i64,
    pub wal_bytes: i64,
    /// Bytes its sessions wrote to temporary files.
    pub temp_bytes: i64,
    /// The most disk it needed beyond the size before it
    /// ([`crate::observe::disk::peak_extra`]).
    pub peak_extra_bytes: i64,
    pub statements: Vec<StatementStat>,
    /// What the lock sampler caught (waits, background work, anything the trace missed).
    pub locks: Vec<LockHold>,
    /// The exact per-statement trace from the bridge.
    pub trace: Timeline,
    /// What the application would feel, in one line.
    pub verdict: crate::model::Verdict,
    /// Its causes, worst first ([`crate::model::rank`]).
    pub findings: Vec<Finding>,
    pub log_file: Option<String>,
    pub output_bytes: u64,
    pub output_cut: u64,
    /// Its down, then its up again, when it has a way back and succeeded.
    pub way_back: Option<WayBack>,
    /// What the generated application traffic felt while it ran.
    pub traffic: Option<crate::model::observed::TrafficReport>,
    /// The batched background migration it declares, sampled after it.
    pub batched: Option<crate::model::batched::BatchedReport>,
}

/// How planning a declared query went.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "snake_case", tag = "result")]
pub enum Planned {
    Planned(crate::model::observed::Plan),
    Failed(crate::model::observed::PlanFailure),
}

/// A declared query's plans before and after the migrations, and what changed.
#[derive(Debug, Clone, Serialize)]
pub struct QueryReport {
    pub query: crate::model::query::DeclaredQuery,
    pub before: Planned,
    /// None when a migration did not succeed (the schema is not the one to compare).
    pub after: Option<Planned>,
    pub verdict: Option<crate::model::observed::Verdict>,
    pub findings: Vec<Finding>,
}

/// A migration's way back, rehearsed right after it: down, the schema compared with
/// the schema before the up, then the up again.
#[derive(Debug, Clone, Serialize)]
pub struct WayBack {
    /// The down, rehearsed and observed like a migration.
    pub down: Box<MigrationReport>,
    /// What the schema after a down that succeeded lacks, keeps or defines otherwise
    /// (empty: as before the up).
    pub differences: Vec<Difference>,
    /// The up again, after a down that succeeded.
    pub up_again: Option<Box<MigrationReport>>,
}

impl DatabaseReport {
    /// A report for database `name` with nothing in it yet.
    pub fn named(name: &str) -> DatabaseReport {
        DatabaseReport {
            name: name.to_string(),
            layout: None,
            tool: None,
            command: None,
            role: None,
            server_version: None,
            production_version: None,
            clone: None,
            migrations: Vec::new(),
            queries: Vec::new(),
            error: None,
        }
    }
}

impl MigrationReport {
    pub fn skipped(name: String, path: String) -> Self {
        MigrationReport {
            name,
            path,
            outcome: MigrationOutcome::Skipped,
            transaction: None,
            exit_code: None,
            sqlstate: None,
            server_errors: vec![],
            wall_s: 0.0,
            size_before: 0,
            size_after: 0,
            wal_bytes: 0,
            temp_bytes: 0,
            peak_extra_bytes: 0,
            statements: vec![],
            locks: vec![],
            trace: Timeline::default(),
            verdict: Default::default(),
            findings: vec![],
            log_file: None,
            output_bytes: 0,
            output_cut: 0,
            way_back: None,
            traffic: None,
            batched: None,
        }
    }
}

impl RunReport {
    /// A report of run `run_id` on `head_sha` with nothing in it yet; the two thresholds
    /// the views need (`findings.replication_bytes_per_second`, `findings.statement_ms`)
    /// come from trusted configuration.
    pub fn empty(
        run_id: &str,
        head_sha: Option<&str>,
        job_url: Option<&str>,
        replication_bytes_per_second: f64,
        slow_statement_ms: f64,
    ) -> RunReport {
        RunReport {
            schema_version: SCHEMA_VERSION,
            run_id: run_id.to_string(),
            head_sha: head_sha.map(str::to_string),
            base_sha: None,
            started_at: chrono::Utc::now().to_rfc3339(),
            job_url: job_url.map(str::to_string),
            databases: Vec::new(),
            cancelled: false,
            withheld: Vec::new(),
            gate_error: None,
            replication_bytes_per_second,
            slow_statement_ms,
            cleanup_failures: Vec::new(),
            ending: Default::default(),
            facts: Default::default(),
            refused: Vec::new(),
        }
    }

    /// Every finding of every migration.
    pub fn findings(&self) -> impl Iterator<Item = &Finding> {
        self.databases.iter().flat_map(|d| {
            d.migrations
                .iter()
                .flat_map(|m| &m.findings)
                .chain(d.queries.iter().flat_map(|q| &q.findings))
        })
    }

    pub fn any_failed(&self) -> bool {
        self.databases.iter().any(|d| {
            d.migrations.iter().any(|m| {
                matches!(
                    m.outcome,
                    MigrationOutcome::Failed
                        | MigrationOutcome::TimedOut
                        | MigrationOutcome::DiskLimit
                )
            })
        })
    }

    pub fn infrastructure_error(&self) -> Option<&str> {
        self.databases.iter().find_map(|d| d.error.as_deref())
    }

    pub fn migration_count(&self) -> usize {
        self.databases.iter().map(|d| d.migrations.len()).sum()
    }
}
