//! Finding the work before anything runs: open the MR's code as git objects (GitLab's
//! repository API in CI, a repository on disk with `--local-checkout`), then list each
//! database's migrations at the head and keep those absent at the merge base, rendered
//! when they are templates; in command mode, the tool's new migrations and its project;
//! and the queries the MR declares for each database.

use super::error::RunError;
use super::step::DatabaseWork;
use crate::config::{Plan, SourcePlan};
use crate::gitlab::http::GitlabHttp;
use crate::migrations::template::render_all;
use crate::migrations::{applied_at, base_commit, discover_new};
use crate::model::refusal::{Refusal, Rule};
use crate::source::git::LocalRepo;
use crate::source::gitlab::GitlabSource;
use crate::source::queries::{declared, QueriesError, DESCRIPTION};
use crate::source::SourceTree;
use crate::tools::command;

/// The MR's code as the plan says to read it.
pub async fn open_source(plan: &Plan) -> Result<Box<dyn SourceTree>, RunError> {
    match &plan.source {
        SourcePlan::Local { repo, rev } => LocalRepo::open(repo, rev)
            .await
            .map(|r| Box::new(r) as Box<dyn SourceTree>)
            .map_err(|e| RunError::from_source("", e)),
        SourcePlan::Gitlab { head_sha } => {
            let target = plan.gitlab.as_ref().ok_or_else(|| {
                RunError::Input(
                    "reading the MR from GitLab needs its URL, token, project and IID".into(),
                )
            })?;
            let http = GitlabHttp::new(
                &target.base_url,
                target.token.clone(),
                plan.gitlab_policy.clone(),
            )
            .map_err(|e| RunError::Infrastructure(e.to_string()))?;
            GitlabSource::open(http, &target.project, target.mr_iid, head_sha)
                .await
                .map(|s| Box::new(s) as Box<dyn SourceTree>)
                .map_err(|e| RunError::from_source("", e))
        }
    }
}

/// The MR's file `path` breaks `rule`: its author hears it on the MR.
fn refused(path: &str, rule: Rule, message: String) -> RunError {
    RunError::Refused {
        refusal: Refusal {
            path: path.to_string(),
            rule,
        },
        message,
    }
}

/// The merge base and each database's new migrations (only those are read).
pub async fn find_work(
    plan: &Plan,
    tree: &dyn SourceTree,
) -> Result<(Option<String>, Vec<DatabaseWork>), RunError> {
    let base = base_commit(tree, &plan.selection)
        .await
        .map_err(|e| RunError::from_source("", e))?;
    let mut work = Vec::new();
    for db in &plan.databases {
        let context = format!("database {:?}: ", db.name);
        let limit = plan.rehearsal.sandbox.max_migration_bytes;
        let applied = applied_at(tree, &db.migrations, base.as_deref())
            .await
            .map_err(|e| RunError::from_source(&context, e))?;
        let input = |e: String| RunError::Input(format!("{context}{e}"));
        let description = tree.description().or(plan.mr_description.as_deref());
        let default_db = plan.databases.first().map_or("", |d| d.name.as_str());
        let queries = declared(tree, description, &db.queries, &db.name, default_db)
            .await
            .map_err(|e| match e {
                QueriesError::Refused { origin, message } => refused(
                    match origin.as_str() {
                        DESCRIPTION => "",
                        path => path,
                    },
                    Rule::Query,
                    format!("{context}{message}"),
                ),
                QueriesError::Unreadable(e) => input(e),
            })?;
        if let Some(command) = &db.command {
            let migrations = command::discover(tree, &db.migrations, command, limit, &applied)
                .await
                .map_err(|e| RunError::from_discovery(&context, e))?;
            let project = command::read_project(tree, &command.project)
                .await
                .map_err(|e| RunError::from_discovery(&context, e))?;
            work.push(DatabaseWork {
                db: db.clone(),
                tool: crate::tools::Tool::Psql,
                layout: crate::migrations::Layout::Numbered,
                migrations,
                project: Some(project),
                queries,
            });
            continue;
        }
        let (layout, mut migrations) =
            discover_new(tree, &db.migrations, db.layout, limit, &applied)
                .await
                .map_err(|e| RunError::from_layout(&context, e))?;
        if let Some(template) = &db.template {
            render_all(&mut migrations, template)
                .map_err(|e| refused(&e.path, Rule::Template, format!("{context}{}", e.message)))?;
        }
        for m in &migrations {
            crate::batched::declaration::find(&m.sql).map_err(|e| {
                refused(
                    &m.path,
                    Rule::Declaration,
                    format!("{context}{}: {}", m.path, crate::error_chain(&e)),
                )
            })?;
        }
        work.push(DatabaseWork {
            db: db.clone(),
            tool: crate::tools::Tool::choose(db.tool, layout, &migrations),
            layout,
            migrations,
            project: None,
            queries,
        });
    }
    Ok((base, work))
}
