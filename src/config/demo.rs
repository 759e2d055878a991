//! The plan for `preflight demo`: the built-in engine on a generated dataset, the bundled
//! examples, the note printed instead of posted, and the configuration's defaults for
//! everything else; [`Demo`] carries the few choices the demo's flags make.

use super::file::{BuiltinSection, FileConfig, LayoutChoice, SourceSection};
use super::plan::{
    new_run_id, BoxPlan, ClonePlan, DatabasePlan, EnginePlan, Plan, Publish, RehearsalPlan,
    Selection, Signals, SourcePlan,
};
use super::sections::HttpPolicy;
use crate::pg::migration_role::MigrationRole;
use std::path::PathBuf;

/// What `preflight demo` rehearses, chosen by its flags and example.
#[derive(Debug, Clone)]
pub struct Demo {
    /// Rows of the generated dataset.
    pub rows: u64,
    pub artifacts_dir: PathBuf,
    /// The built-in engine's working directory, when not the default.
    pub work_dir: Option<PathBuf>,
    /// The box image.
    pub image: String,
    /// The example's migrations directory in the repository.
    pub migrations_dir: String,
    /// Command mode, for the tool examples.
    pub command: Option<super::sections::CommandSection>,
}

impl Plan {
    /// The plan for `preflight demo`: the built-in engine on the generated dataset, the
    /// bundled examples (committed to the repository `repo` by the caller), the note
    /// printed.
    pub fn for_demo(args: Demo, repo: PathBuf) -> Plan {
        let mut builtin = BuiltinSection {
            source: SourceSection::Demo { rows: args.rows },
            ..BuiltinSection::default()
        };
        if let Some(dir) = args.work_dir {
            builtin.work_dir = dir;
        }
        let defaults = FileConfig::default();
        let image = args.image;
        Plan {
            source: SourcePlan::Local {
                repo,
                rev: "HEAD".into(),
            },
            mr_description: None,
            selection: Selection::All,
            databases: vec![DatabasePlan {
                name: "main".into(),
                db_name: "app".into(),
                migrations: args.migrations_dir,
                layout: LayoutChoice::Auto,
                tool: None,
                post_deploy: false,
                role: MigrationRole::Restricted,
                session: Vec::new(),
                way_back: true,
                template: None,
                production_version: None,
                allow_other_major: false,
                command: args.command,
                queries: Default::default(),
            }],
            engine: EnginePlan::Builtin(builtin),
            rehearsal: RehearsalPlan {
                run_id: new_run_id(),
                clone: ClonePlan {
                    ready_timeout: defaults.engine.ready_timeout,
                    snapshot: None,
                },
                sandbox: BoxPlan {
                    image,
                    migration_timeout: defaults.sandbox.migration_timeout,
                    output_limit_bytes: defaults.sandbox.output_limit_bytes,
                    max_migration_bytes: defaults.sandbox.max_migration_bytes,
                    disk_limit_bytes: defaults.sandbox.disk_limit_bytes,
                },
                lock_sample_interval: defaults.observe.lock_sample_interval,
                thresholds: defaults.findings.clone(),
                traffic: defaults.traffic.clone(),
                batches: defaults.batches.clone(),
                table_owners: Default::default(),
                artifacts_dir: args.artifacts_dir,
            },
            docs_url: defaults.report.docs_url.trim_end_matches('/').to_string(),
            templates_dir: None,
            job_url: None,
            gitlab: None,
            gitlab_policy: HttpPolicy::default(),
            signals: Signals::default(),
            fail_on_findings: None,
            publish: Publish::Print,
        }
    }
}
