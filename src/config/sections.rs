//! The sections of trusted configuration that one part of the job each reads: the
//! findings' thresholds, the traffic generator, batched migrations' sampling, declared
//! queries, templated migrations, command mode, and GitLab's timeouts. They are defined
//! here, with their defaults, so that the configuration names no part above it; each
//! part takes its own section from the plan.

use crate::model::tool::CommandTool;
use serde::{Deserialize, Serialize};
use std::time::Duration;
use url::Url;

/// Thresholds, from trusted configuration (`findings:`), with dangers.md's defaults.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Thresholds {
    /// PF-L03: how long a lock that blocks the application may be held.
    pub lock_hold_ms: f64,
    /// PF-D01: a regular migration's wall time.
    pub migration_s: f64,
    /// PF-D02: a post-deploy migration's wall time.
    pub post_deploy_migration_s: f64,
    /// PF-D03: one data statement.
    pub statement_ms: f64,
    /// PF-D03: one concurrent index build.
    pub concurrent_index_s: f64,
    /// PF-B01: rows one statement changes.
    pub rows: f64,
    /// PF-W01: WAL one migration writes.
    pub wal_bytes: f64,
    /// How fast production's replicas replay WAL: a migration's WAL over it estimates
    /// how far they fall behind.
    pub replication_bytes_per_second: f64,
    /// PF-W01: how far behind that estimate may put the replicas.
    pub replica_lag_s: f64,
    /// PF-L04: how long a generated application statement may wait behind the migration.
    pub traffic_wait_ms: f64,
    /// PF-B02: one batch of a batched background migration.
    pub batch_ms: f64,
    /// PF-Q01: rows a new sequential scan of a declared query reads.
    pub plan_seq_scan_rows: f64,
    /// PF-Q02: how many times slower (or more buffers) a declared query may get.
    pub plan_factor: f64,
    /// PF-Q03: how many times off the planner's row estimate may be.
    pub plan_misestimate: f64,
    /// PF-W02: how long hot standbys wait for a conflicting lock before they cancel
    /// their queries (production's `max_standby_streaming_delay`).
    pub standby_delay_ms: f64,
}

/// How long replicas replaying `rate` bytes per second need for `wal_bytes` of WAL:
/// how far behind the primary a burst of it puts them (0 when no rate is known).
pub fn replica_lag_s(wal_bytes: i64, rate: f64) -> f64 {
    if rate > 0.0 {
        wal_bytes.max(0) as f64 / rate
    } else {
        0.0
    }
}

impl Thresholds {
    /// [`replica_lag_s`] at `replication_bytes_per_second`.
    pub fn replica_lag_s(&self, wal_bytes: i64) -> f64 {
        replica_lag_s(wal_bytes, self.replication_bytes_per_second)
    }
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            lock_hold_ms: 1000.0,
            migration_s: 180.0,
            post_deploy_migration_s: 600.0,
            statement_ms: 100.0,
            concurrent_index_s: 300.0,
            rows: 10_000.0,
            wal_bytes: 1024.0 * 1024.0 * 1024.0,
            replication_bytes_per_second: 64.0 * 1024.0 * 1024.0,
            replica_lag_s: 60.0,
            traffic_wait_ms: 500.0,
            batch_ms: 1000.0,
            plan_seq_scan_rows: 10_000.0,
            plan_factor: 2.0,
            plan_misestimate: 100.0,
            standby_delay_ms: 30_000.0,
        }
    }
}

/// `traffic` in trusted configuration.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct TrafficSection {
    /// Statements per second while each migration runs; 0 turns the generator off.
    pub rate_per_second: u32,
    /// Sessions the statements are spread over (the application's pool).
    pub connections: usize,
    /// The largest pre-existing tables with a one-column primary key that get traffic.
    pub tables: usize,
    /// A statement that took longer than this waited.
    pub wait_ms: f64,
    /// The application's own statement timeout: statements past it would have failed.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
}

impl Default for TrafficSection {
    fn default() -> Self {
        TrafficSection {
            rate_per_second: 0,
            connections: 8,
            tables: 8,
            wait_ms: 50.0,
            timeout: Duration::from_secs(1),
        }
    }
}

/// `batches` in trusted configuration: how much of a job the rehearsal samples.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct BatchesSection {
    /// Time for the batches of one job.
    #[serde(with = "humantime_serde")]
    pub budget: Duration,
    /// The estimate is made from this many batches.
    pub samples: usize,
    /// A job of at most this many batches runs whole (its total measured).
    pub whole_up_to: usize,
}

impl Default for BatchesSection {
    fn default() -> Self {
        BatchesSection {
            budget: Duration::from_secs(20),
            samples: 12,
            whole_up_to: 12,
        }
    }
}

/// `databases[].queries`: where else queries come from, the sample values of their
/// parameters, and how long one may run.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct QueriesSection {
    /// A file of `;`-separated queries in the MR's repository.
    pub file: Option<String>,
    /// Sample values for `$1`, `$2`, ... (SQL literals' text, quoted for you).
    pub params: Vec<String>,
    /// `statement_timeout` for each plan.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
}

impl Default for QueriesSection {
    fn default() -> Self {
        QueriesSection {
            file: None,
            params: Vec::new(),
            timeout: Duration::from_secs(10),
        }
    }
}

/// `databases[].template` as written.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TemplateSection {
    /// The template language: `go` (Go's text/template).
    pub syntax: TemplateSyntax,
    /// What the templates' fields stand for, e.g. `{Options: {Namespace: auth}}`.
    #[serde(default)]
    pub values: serde_yaml::Mapping,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum TemplateSyntax {
    Go,
}

/// `databases[].command` as written.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CommandSection {
    pub tool: CommandTool,
    /// The image with the tool and the project's dependencies (the operator's).
    pub image: String,
    /// The project's directory in the repository (where `alembic.ini` or `manage.py` is).
    #[serde(default = "dot")]
    pub project: String,
    /// Django: the app whose migrations `migrations` holds.
    #[serde(default)]
    pub app: Option<String>,
}

fn dot() -> String {
    ".".into()
}

/// Timeouts and retries for GitLab requests (trusted configuration, `gitlab:`).
#[derive(Debug, Clone)]
pub struct HttpPolicy {
    pub connect_timeout: Duration,
    /// One request, from sending to the last byte of the answer.
    pub request_timeout: Duration,
    /// Tries per request, the first included.
    pub attempts: u32,
    /// The longest wait between tries, `Retry-After` included.
    pub max_backoff: Duration,
    /// The proxy trusted configuration names (`gitlab.proxy`); none: direct.
    pub proxy: Option<Url>,
}

impl Default for HttpPolicy {
    fn default() -> Self {
        HttpPolicy {
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            attempts: 5,
            max_backoff: Duration::from_secs(30),
            proxy: None,
        }
    }
}
