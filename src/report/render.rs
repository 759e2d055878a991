//! Rendering with tera: the public summary and the full report come from the templates
//! in `report-templates/` (compiled in; a trusted `report.templates_dir` may override
//! them). Undefined variables are errors, and the [`filters`](super::filters) make
//! anything that reaches Markdown plain text.

use super::gate::GateTexts;
use super::public::PublicSummary;
use crate::model::report::RunReport;
use std::path::Path;
use tera::Tera;
use thiserror::Error;

const SUMMARY: &str = "summary.md.tera";
const FULL: &str = "full.md.tera";
const HTML: &str = "full.html.tera";
const GATE: &str = "gate.yml";

/// The MR note's size budget in bytes: a page people read, far under GitLab's limit of
/// 1,000,000 characters; everything else is in the full report.
pub const NOTE_BUDGET: usize = 24 * 1024;

#[derive(Debug, Error)]
pub enum RenderError {
    #[error("cannot read report template {path}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// Tera's own message is "Failed to render ..."; the reason is in its sources.
    #[error("report template error")]
    Template(#[from] tera::Error),
    #[error("the leak gate's texts {GATE} are not valid")]
    GateTexts(#[source] serde_yaml::Error),
    #[error("the report cannot be handed to its template")]
    Context(#[from] serde_json::Error),
}

/// `rule(id="PF-I01")`: the registry's danger and safe pattern for a finding id.
fn rule_function(
    args: &std::collections::HashMap<String, tera::Value>,
) -> tera::Result<tera::Value> {
    let id = args
        .get("id")
        .and_then(|v| v.as_str())
        .ok_or_else(|| tera::Error::msg("rule() needs id=\"PF-...\""))?;
    let rule = crate::analyze::registry::find(id)
        .ok_or_else(|| tera::Error::msg(format!("no finding id {id}")))?;
    Ok(serde_json::json!({"danger": rule.danger, "fix": rule.fix}))
}

pub struct Renderer {
    tera: Tera,
    /// The summary template's source: its words are the gate's template words.
    summary_source: String,
    gate_texts: GateTexts,
}

/// A built-in template, or the file of the same name in `dir`.
fn template_text(dir: Option<&Path>, name: &str, builtin: &str) -> Result<String, RenderError> {
    match dir.map(|d| d.join(name)).filter(|p| p.is_file()) {
        Some(path) => std::fs::read_to_string(&path).map_err(|source| RenderError::Read {
            path: path.display().to_string(),
            source,
        }),
        None => Ok(builtin.to_string()),
    }
}

impl Renderer {
    /// The built-in templates, or those in `dir` where it has a file of the same name.
    pub fn new(dir: Option<&Path>) -> Result<Renderer, RenderError> {
        let mut tera = Tera::default();
        // Only the HTML report is escaped by tera; Markdown escapes with the filters.
        tera.autoescape_on(vec![HTML]);
        tera.register_filter("md", super::filters::md_escape);
        tera.register_filter("code", super::filters::code_span);
        tera.register_filter("html", super::filters::html_escape);
        tera.register_function("rule", rule_function);
        for (name, builtin) in [
            (
                SUMMARY,
                include_str!("../../report-templates/summary.md.tera"),
            ),
            (FULL, include_str!("../../report-templates/full.md.tera")),
            (HTML, include_str!("../../report-templates/full.html.tera")),
        ] {
            let text = template_text(dir, name, builtin)?;
            tera.add_raw_template(name, &text)?;
        }
        let summary_source = template_text(
            dir,
            SUMMARY,
            include_str!("../../report-templates/summary.md.tera"),
        )?;
        let gate = template_text(dir, GATE, include_str!("../../report-templates/gate.yml"))?;
        let gate_texts = serde_yaml::from_str(&gate).map_err(RenderError::GateTexts)?;
        Ok(Renderer {
            tera,
            summary_source,
            gate_texts,
        })
    }

    pub fn summary_source(&self) -> &str {
        &self.summary_source
    }

    pub fn gate_texts(&self) -> &GateTexts {
        &self.gate_texts
    }

    /// The note, within [`NOTE_BUDGET`] bytes: detail is shed
    /// ([`PublicSummary::shed`]) until it fits, and the note says so.
    pub fn summary(&self, summary: &PublicSummary) -> Result<String, RenderError> {
        let mut summary = summary.clone();
        loop {
            let ctx = tera::Context::from_serialize(&summary)?;
            let text = self.tera.render(SUMMARY, &ctx)?;
            if text.len() <= NOTE_BUDGET || !summary.shed() {
                return Ok(text);
            }
        }
    }

    pub fn full(&self, report: &RunReport) -> Result<String, RenderError> {
        let ctx = tera::Context::from_serialize(report)?;
        self.tera.render(FULL, &ctx).map_err(RenderError::Template)
    }

    /// The full report as a self-contained HTML page ([`super::html`]).
    pub fn html(&self, report: &RunReport, docs_url: &str) -> Result<String, RenderError> {
        let ctx = super::html::context(report, docs_url)?;
        self.tera.render(HTML, &ctx).map_err(RenderError::Template)
    }
}
