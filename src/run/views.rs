//! The reports GitLab already knows how to show, written beside the full report: JUnit
//! XML (`junit.xml`) and Code Quality (`gl-code-quality-report.json`). Both are views of
//! the public summary with every finding, and every text in them passes the leak gate
//! on its own (a text the gate would withhold is replaced by a fixed line).

use super::note::text_gate;
use super::DatabaseWork;
use crate::config::Plan;
use crate::report::codequality::code_quality;
use crate::report::junit::junit;
use crate::report::{PublicSummary, Renderer, RunReport, SourceWords};
use std::path::Path;

pub const JUNIT: &str = "junit.xml";
pub const CODE_QUALITY: &str = "gl-code-quality-report.json";

/// Writes both files into `dir`.
pub fn write(
    dir: &Path,
    plan: &Plan,
    report: &RunReport,
    work: &[DatabaseWork],
    renderer: &Renderer,
    words: &SourceWords,
) -> Result<(), super::error::ReportError> {
    let summary = PublicSummary::build_uncut(report, words, &plan.docs_url);
    let check = text_gate(plan, report, work, renderer, &summary);
    let migration = |db: &str, name: &str| {
        work.iter()
            .filter(|w| w.db.name == db)
            .flat_map(|w| &w.migrations)
            .find(|m| m.name() == name)
    };
    let path_of = |db: &str, name: &str| migration(db, name).map(|m| m.path.clone());
    for (file, text) in [
        (JUNIT, junit(&summary, &path_of, &check)),
        (CODE_QUALITY, code_quality(&summary, &path_of, &check)),
    ] {
        super::error::ReportError::write(dir.join(file), &text)?;
    }
    Ok(())
}
