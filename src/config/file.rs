//! The trusted configuration file (YAML): its schema and defaults.
//!
//! Every key is optional; a missing file means all defaults. The README's
//! "Configuration" section documents each key with its default, and a test keeps the
//! two in step. Unknown keys are an error, so a typo never silently falls back to a
//! default.

use crate::model::tool::Tool;
use crate::pg::migration_role::RoleSection;
use serde::Deserialize;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct FileConfig {
    pub gitlab: GitlabSection,
    pub engine: EngineSection,
    pub builtin: BuiltinSection,
    pub databases: Option<Vec<DatabaseSection>>,
    #[serde(rename = "box")]
    pub sandbox: BoxSection,
    pub observe: ObserveSection,
    /// Generated application traffic while each migration runs.
    pub traffic: super::sections::TrafficSection,
    /// How much of each declared batched background migration is sampled.
    pub batches: super::sections::BatchesSection,
    pub report: ReportSection,
    /// Thresholds of the findings (dangers.md's defaults).
    pub findings: super::sections::Thresholds,
    pub policy: PolicySection,
}

/// What fails the job.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct PolicySection {
    /// Also fail (exit 5) on findings at or above this severity.
    pub fail_on_findings: FailOnFindings,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum FailOnFindings {
    #[default]
    Never,
    Info,
    Warning,
    Error,
}

impl FailOnFindings {
    /// The lowest severity that fails the job, if any does.
    pub fn severity(self) -> Option<crate::model::Severity> {
        use crate::model::Severity;
        match self {
            FailOnFindings::Never => None,
            FailOnFindings::Info => Some(Severity::Info),
            FailOnFindings::Warning => Some(Severity::Warning),
            FailOnFindings::Error => Some(Severity::Error),
        }
    }
}

/// The MR label for each verdict; an empty name sets none.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct VerdictLabels {
    pub passed: String,
    pub findings: String,
    pub failed: String,
}

impl Default for VerdictLabels {
    fn default() -> Self {
        VerdictLabels {
            passed: "preflight::passed".into(),
            findings: "preflight::findings".into(),
            failed: "preflight::failed".into(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GitlabSection {
    /// Base URL of the GitLab instance; `CI_SERVER_URL` wins.
    pub url: Option<String>,
    /// How long to wait for GitLab to accept a connection.
    #[serde(with = "humantime_serde")]
    pub connect_timeout: Duration,
    /// How long one request may take, answer included.
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// How many times a request is tried (429, 5xx, timeouts are retried).
    pub attempts: u32,
    /// Post a placeholder note when the run starts.
    pub placeholder: bool,
    /// The commit status set on the head commit; empty for none.
    pub commit_status: String,
    pub labels: VerdictLabels,
    /// The only proxy GitLab requests may go through (the environment's proxy variables
    /// are never read: a trigger variable could set them).
    pub proxy: Option<String>,
}

impl Default for GitlabSection {
    fn default() -> Self {
        GitlabSection {
            url: None,
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            attempts: 5,
            placeholder: true,
            commit_status: "preflight".into(),
            labels: VerdictLabels::default(),
            proxy: None,
        }
    }
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum EngineKind {
    /// The engine built into preflight, run in-process.
    #[default]
    Builtin,
    /// A Database Lab Engine (or `preflight engine serve`) over HTTP.
    Dle,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EngineSection {
    pub kind: EngineKind,
    pub url: Option<String>,
    pub snapshot: Option<String>,
    #[serde(with = "humantime_serde")]
    pub ready_timeout: Duration,
    pub restricted: bool,
    /// The only proxy requests to a DLE engine may go through.
    pub proxy: Option<String>,
}

impl Default for EngineSection {
    fn default() -> Self {
        EngineSection {
            kind: EngineKind::Builtin,
            url: None,
            snapshot: None,
            ready_timeout: Duration::from_secs(120),
            restricted: true,
            proxy: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BuiltinSection {
    pub work_dir: PathBuf,
    /// Pins every clone to these binaries (none: each runs its data's major).
    pub pg_bin_dir: Option<PathBuf>,
    /// The major for sources without a server of their own; none: the newest here.
    pub postgres_major: Option<u32>,
    pub source: SourceSection,
    /// The preflight binary that relays confined clones' ports; None: the running one
    /// (set by programs that embed the engine, such as test binaries; not configurable).
    #[serde(skip)]
    pub relay_program: Option<PathBuf>,
}

impl Default for BuiltinSection {
    fn default() -> Self {
        BuiltinSection {
            work_dir: std::env::temp_dir().join("preflight-engine"),
            pg_bin_dir: None,
            postgres_major: None,
            source: SourceSection::default(),
            relay_program: None,
        }
    }
}

pub use crate::pg::load::SourceSection;

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum LayoutChoice {
    #[default]
    Auto,
    Numbered,
    Flyway,
    Directory,
}

/// `tool:` is a [`Tool`] by name, or `auto` (None: the layout decides).
fn tool_or_auto<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Tool>, D::Error> {
    let name = String::deserialize(d)?;
    if name == "auto" {
        return Ok(None);
    }
    Tool::deserialize(serde::de::value::StringDeserializer::<D::Error>::new(name)).map(Some)
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSection {
    pub name: String,
    #[serde(default = "default_db_name")]
    pub db_name: String,
    #[serde(default = "default_migrations_path")]
    pub migrations: PathBuf,
    #[serde(default)]
    pub layout: LayoutChoice,
    /// The migration tool whose transactions the rehearsal reproduces ([`crate::tools`]).
    #[serde(default, deserialize_with = "tool_or_auto")]
    pub tool: Option<Tool>,
    /// Its migrations run after the deploy (PF-D02's longer guideline applies).
    #[serde(default)]
    pub post_deploy: bool,
    /// The tables this database owns (names or `*` patterns), for PF-X01.
    #[serde(default)]
    pub tables: Vec<String>,
    /// The role production migrates with ([`crate::pg::migration_role`]).
    #[serde(default)]
    pub role: RoleSection,
    /// Settings production's runner starts every session with.
    #[serde(default)]
    pub session: std::collections::BTreeMap<String, String>,
    /// Rehearse each migration's down, then its up again, where it has one.
    #[serde(default = "yes")]
    pub way_back: bool,
    /// The migrations are templates, rendered with these values before anything runs.
    #[serde(default)]
    pub template: Option<super::sections::TemplateSection>,
    /// Production's PostgreSQL major version: a clone of another major is not rehearsed
    /// on, unless `allow_other_major` (then the note warns at the top).
    #[serde(default)]
    pub production_version: Option<u32>,
    #[serde(default)]
    pub allow_other_major: bool,
    /// The team's migration tool, run by command in the box instead of SQL files.
    #[serde(default)]
    pub command: Option<super::sections::CommandSection>,
    /// Queries planned before and after the migrations, besides the MR description's.
    #[serde(default)]
    pub queries: super::sections::QueriesSection,
}

fn yes() -> bool {
    true
}

pub fn default_db_name() -> String {
    "app".to_string()
}

pub fn default_migrations_path() -> PathBuf {
    PathBuf::from("db/migrations")
}

impl Default for DatabaseSection {
    fn default() -> Self {
        DatabaseSection {
            name: "main".to_string(),
            db_name: default_db_name(),
            migrations: default_migrations_path(),
            layout: LayoutChoice::Auto,
            tool: None,
            post_deploy: false,
            tables: Vec::new(),
            role: RoleSection::default(),
            session: Default::default(),
            way_back: true,
            template: None,
            production_version: None,
            allow_other_major: false,
            command: None,
            queries: Default::default(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BoxSection {
    pub image: String,
    #[serde(with = "humantime_serde")]
    pub migration_timeout: Duration,
    pub output_limit_bytes: u64,
    pub max_migration_bytes: u64,
    pub disk_limit_bytes: u64,
}

impl Default for BoxSection {
    fn default() -> Self {
        BoxSection {
            image: "preflight-box:bookworm".to_string(),
            migration_timeout: Duration::from_secs(3600),
            output_limit_bytes: 4 * 1024 * 1024,
            max_migration_bytes: 16 * 1024 * 1024,
            disk_limit_bytes: 20 * 1024 * 1024 * 1024,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ObserveSection {
    #[serde(with = "humantime_serde")]
    pub lock_sample_interval: Duration,
}

impl Default for ObserveSection {
    fn default() -> Self {
        ObserveSection {
            lock_sample_interval: Duration::from_millis(20),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReportSection {
    pub artifacts_dir: PathBuf,
    pub templates_dir: Option<PathBuf>,
    /// Where the findings' pages (`<id>.md`) are published; the note links there.
    pub docs_url: String,
}

/// preflight's own findings pages.
pub const DEFAULT_DOCS_URL: &str =
    "https://gitlab.com/preflight-ci/preflight/-/blob/main/docs/findings";

impl Default for ReportSection {
    fn default() -> Self {
        ReportSection {
            artifacts_dir: PathBuf::from("preflight-artifacts"),
            templates_dir: None,
            docs_url: DEFAULT_DOCS_URL.into(),
        }
    }
}

impl FileConfig {
    /// Parses the YAML text of a configuration file.
    pub fn from_yaml(text: &str) -> Result<Self, serde_yaml::Error> {
        if text.trim().is_empty() {
            return Ok(FileConfig::default());
        }
        serde_yaml::from_str(text)
    }

    /// The databases to rehearse; one called `main` when the file names none.
    pub fn databases(&self) -> Vec<DatabaseSection> {
        self.databases
            .clone()
            .unwrap_or_else(|| vec![DatabaseSection::default()])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_means_defaults() {
        let c = FileConfig::from_yaml("").unwrap();
        assert_eq!(c.engine.kind, EngineKind::Builtin);
        assert!(c.engine.restricted);
        assert_eq!(c.databases()[0].name, "main");
        assert_eq!(c.observe.lock_sample_interval, Duration::from_millis(20));
    }

    #[test]
    fn durations_and_sources_parse() {
        let c = FileConfig::from_yaml(
            "engine: {kind: dle, url: 'http://127.0.0.1:2345', ready_timeout: 90s}\n\
             builtin: {source: {kind: sql_file, path: seed.sql}}\n\
             box: {migration_timeout: 5m}\n",
        )
        .unwrap();
        assert_eq!(c.engine.kind, EngineKind::Dle);
        assert_eq!(c.engine.ready_timeout, Duration::from_secs(90));
        assert_eq!(c.sandbox.migration_timeout, Duration::from_secs(300));
        assert_eq!(
            c.builtin.source,
            SourceSection::SqlFile {
                path: "seed.sql".into()
            }
        );
    }

    #[test]
    fn unknown_keys_are_rejected() {
        let err = FileConfig::from_yaml("engine: {knd: dle}").unwrap_err();
        assert!(err.to_string().contains("knd"), "{err}");
    }
}
