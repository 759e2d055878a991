//! The full report as one self-contained HTML page (`report.html` in the artifacts):
//! per migration its runtime, its timeline with the locks held during each statement
//! drawn as bars ([`super::svg`]), its statements, locks and findings with their pages.
//! No external asset: styles are inline, charts are inline SVG, and the page's own
//! Content-Security-Policy forbids loading anything, so it opens from the artifacts
//! browser and cannot call out. Maintainers only, like `report.md`: it holds raw text.

use super::svg;
use crate::model::report::RunReport;
use serde_json::Value;

/// The template's context: the report, each migration with its timeline, the run's
/// runtime chart and where the finding pages live.
pub fn context(report: &RunReport, docs_url: &str) -> Result<tera::Context, serde_json::Error> {
    let mut value = serde_json::to_value(report)?;
    let timelines = report
        .databases
        .iter()
        .map(|d| d.migrations.iter().map(svg::timeline).collect::<Vec<_>>());
    // A run report always serializes with its list of databases.
    let databases = value.get_mut("databases").and_then(Value::as_array_mut);
    for (db, charts) in databases.into_iter().flatten().zip(timelines) {
        let migrations = db.get_mut("migrations").and_then(Value::as_array_mut);
        for (m, chart) in migrations.into_iter().flatten().zip(charts) {
            m["timeline"] = chart.map_or(Value::Null, Value::String);
        }
    }
    let mut ctx = tera::Context::new();
    ctx.insert("report", &value);
    ctx.insert("runtimes", &svg::runtimes(report));
    ctx.insert("docs_url", docs_url);
    Ok(ctx)
}
