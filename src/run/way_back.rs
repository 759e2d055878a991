//! The way back, rehearsed right after a migration that has one and succeeded: its down
//! (the same tool's transaction, or in command mode the tool's own downgrade, observed
//! like any migration), the schema then compared
//! by name with the schema before the up, then the up again. What goes wrong becomes a
//! finding on the migration: PF-U01 (the down failed), PF-U02 (the down left the schema
//! different), PF-U03 (the up failed the second time).
//!
//! After a down that failed outside one transaction, or an up again that failed, the
//! clone is in a state production never reaches, so the rest of the database's
//! migrations are not rehearsed on it (they are listed as skipped).

use super::step::{Session, StepError};
use crate::analyze::{Evidence, Finding};
use crate::exec::down_staged;
use crate::migrations::{Down, Migration};
use crate::model::report::WayBack;
use crate::observe::schema::Schema;
use crate::report::{MigrationOutcome, MigrationReport};
use crate::tools::Transaction;

/// How a migration goes back: its down file, or its tool's command (command mode).
pub enum Back<'a> {
    File(&'a Down),
    Command(Vec<String>),
}

/// A way back rehearsed: its report, the findings for the migration, and whether the
/// clone can still be trusted for the next migrations.
pub struct Rehearsed {
    pub report: WayBack,
    pub findings: Vec<Finding>,
    pub stops_the_run: bool,
}

/// The down as a migration of its own (its name says it is the down); a command's down
/// has the migration's own path and source.
fn as_migration(m: &Migration, down: Option<&Down>) -> Migration {
    Migration {
        entry: format!("{} (down)", m.name()),
        version: m.version.clone(),
        path: down.map_or(&m.path, |d| &d.path).clone(),
        bytes: down.map_or(&m.bytes, |d| &d.bytes).clone(),
        sql: down.map_or(&m.sql, |d| &d.sql).clone(),
        sectioned: m.sectioned,
        no_transaction: m.no_transaction,
        down: None,
        previous: None,
    }
}

/// What a failed step is called in a finding: its SQLSTATE, or how it ended.
fn how_it_ended(step: &MigrationReport) -> String {
    match step.outcome {
        MigrationOutcome::TimedOut => "timeout".into(),
        MigrationOutcome::DiskLimit => "disk_limit".into(),
        _ => step.sqlstate.clone().unwrap_or_else(|| "failed".into()),
    }
}

/// Rehearses `m`'s way back (a down staged beside `staged`, or the tool's command),
/// compares the schema with `before`, then applies `m` again.
pub(crate) async fn rehearse(
    session: &Session<'_>,
    m: &Migration,
    back: Back<'_>,
    staged: &str,
    before: Schema,
) -> Result<Rehearsed, StepError> {
    let log = session.cx.log;
    log.line(&format!(
        "   way back: the down of {}",
        crate::text::visible(m.name())
    ));
    let down_report = match back {
        Back::File(down) => {
            session
                .rehearse(&as_migration(m, Some(down)), &down_staged(staged))
                .await?
        }
        Back::Command(command) => {
            session
                .rehearse_command(&as_migration(m, None), &down_staged(staged), command)
                .await?
        }
    };
    let mut findings = Vec::new();
    if down_report.outcome != MigrationOutcome::Succeeded {
        findings.push(
            crate::analyze::finding(crate::model::RuleId::U01, how_it_ended(&down_report), None)
                .with(Evidence::new("down wall time", down_report.wall_s, "s")),
        );
        // Inside one transaction a failed down changed nothing: the clone is as after the up.
        let rolled_back = matches!(
            down_report.transaction,
            Some(Transaction::WholeFile | Transaction::OneQuery)
        ) && down_report.outcome == MigrationOutcome::Failed;
        return Ok(Rehearsed {
            report: WayBack {
                down: Box::new(down_report),
                differences: Vec::new(),
                up_again: None,
            },
            findings,
            stops_the_run: !rolled_back,
        });
    }

    let after = session.observer.schema().await?;
    let bookkeeping = session
        .work
        .db
        .command
        .as_ref()
        .map(|c| c.tool.bookkeeping());
    let differences: Vec<_> = before
        .differences(&after)
        .into_iter()
        .filter(|d| {
            !bookkeeping.is_some_and(|table| d.name.split('.').any(|p| p.starts_with(table)))
        })
        .collect();
    if let Some(first) = differences.first() {
        findings.push(
            crate::analyze::finding(crate::model::RuleId::U02, first.object(), None).with(
                Evidence::new("objects not as before", differences.len() as f64, "objects"),
            ),
        );
    }

    log.line(&format!(
        "   way back: {} again",
        crate::text::visible(m.name())
    ));
    let up_again = session.rehearse(m, staged).await?;
    let failed_again = up_again.outcome != MigrationOutcome::Succeeded;
    if failed_again {
        findings.push(
            crate::analyze::finding(crate::model::RuleId::U03, how_it_ended(&up_again), None)
                .with(Evidence::new("wall time", up_again.wall_s, "s")),
        );
    }
    Ok(Rehearsed {
        report: WayBack {
            down: Box::new(down_report),
            differences,
            up_again: Some(Box::new(up_again)),
        },
        findings,
        stops_the_run: failed_again,
    })
}
