//! The batched-migration step: after a migration that declares a batched background
//! migration succeeded (and its way back, if any), the job is sampled on the clone and
//! its findings join the migration's.

use super::step::Session;
use crate::migrations::Migration;
use crate::report::MigrationReport;

/// Samples the job `m` declares, if any, into `result`.
pub(crate) async fn sample_declared(
    session: &Session<'_>,
    m: &Migration,
    result: &mut MigrationReport,
) {
    // Checked when the work was found, so a declaration that does not read is none here.
    let Ok(Some(declared)) = crate::batched::declaration::find(&m.sql) else {
        return;
    };
    let plan = session.cx.plan;
    let sampled = crate::batched::sample::sample(
        session.observer.upstream(),
        &session.work.db.session,
        &declared,
        &plan.batches,
    )
    .await;
    match sampled {
        Ok(report) => {
            session.cx.log.line(&format!(
                "   batched job on {}: {} of {} batches sampled, about {} in all",
                crate::text::visible(&declared.table),
                report.samples.len(),
                report.batches,
                crate::report::rounding::duration_s(report.estimate_s)
            ));
            result
                .findings
                .extend(crate::analyze::batched::check(&report, &plan.thresholds));
            crate::analyze::acknowledge(&mut result.findings, &m.sql);
            result.batched = Some(report);
        }
        Err(e) => tracing::warn!(
            "the batched job of {} could not be sampled: {}",
            m.name(),
            crate::error_chain(&e)
        ),
    }
}
