//! The MR note: a [`PublicSummary`] rendered, then checked item by item by the leak
//! gate against the words the run may show (the template's, the closed vocabularies',
//! the MR's migrations', trusted configuration's, and the earlier runs' history lines,
//! which were parsed strictly). A gate that fails or panics leaves only the fixed
//! "withheld" note (fail closed).

use super::DatabaseWork;
use crate::config::Plan;
use crate::report::gate::{gate, GateError, Vocabulary, Withheld, REPORT_WITHHELD};
use crate::report::render::RenderError;
use crate::report::{PublicSummary, Renderer, RunReport, NOTE_MARKER};

/// A note ready to post, and what the gate held back.
pub struct GatedNote {
    pub text: String,
    pub withheld: Vec<Withheld>,
    /// Why the gate could not run, when it could not (the note is then the fixed one).
    pub gate_error: Option<String>,
}

/// The words the leak gate lets through.
fn vocabulary(
    plan: &Plan,
    report: &RunReport,
    work: &[DatabaseWork],
    renderer: &Renderer,
    summary: &PublicSummary,
) -> Vocabulary {
    let mut vocab =
        Vocabulary::default().with_closed_vocabularies(crate::report::closed_words::all());
    vocab.add_template(renderer.summary_source());
    // The MR's own text, as the summary's source words have it: each migration, its
    // down and their paths.
    for m in work.iter().flat_map(|w| &w.migrations) {
        vocab.add_text(&m.sql);
        vocab.add_text(&m.entry);
        vocab.add_text(&m.path);
        if let Some(down) = &m.down {
            vocab.add_text(&down.sql);
            vocab.add_text(&down.path);
        }
    }
    for q in work.iter().flat_map(|w| &w.queries) {
        vocab.add_text(&q.text);
    }
    // Statement kinds are preflight's own labels, named after the parser's node types:
    // those of the statistics and those of the trace (the verdicts name them), downs too.
    let migrations = report.databases.iter().flat_map(|d| &d.migrations);
    let downs = migrations
        .clone()
        .filter_map(|m| m.way_back.as_ref().map(|b| b.down.as_ref()));
    for m in migrations.chain(downs) {
        for s in &m.statements {
            vocab.add_text(&s.classified.kind);
        }
        for s in &m.trace.statements {
            vocab.add_text(&s.kind);
        }
    }
    // Findings: the registry's own words, and the evidence's measures and units (made by
    // the rules from fixed words and lock mode names, never from the clone).
    for rule in crate::analyze::RULES {
        vocab.add_text(&format!("{}/{}.md", plan.docs_url, rule.id));
        vocab.add_text(rule.danger);
        vocab.add_text(rule.fix);
    }
    vocab.add_text(crate::report::public::QUERIES_LABEL);
    // A refused file's path is the MR's own text; the summary shows it only when plain.
    for r in &summary.refused {
        vocab.add_text(r.path.as_deref().unwrap_or_default());
    }
    // Where causes and slow statements stand in the MR's files: statement numbers and
    // lines are positions in the MR's own source, of any size (a cause at statement 2502
    // of a long file), never data.
    let migrations = report.databases.iter().flat_map(|d| &d.migrations);
    let causes = report
        .findings()
        .filter_map(|f| f.statement.as_ref())
        .flat_map(|s| [s.number, s.line]);
    let during = migrations
        .clone()
        .filter_map(|m| m.verdict.blocking.as_ref())
        .flat_map(|b| b.during.iter().map(|c| c.number));
    let drawn = migrations.flat_map(|m| m.trace.statements.iter().map(|s| s.number));
    for n in causes.chain(during).chain(drawn).flatten() {
        vocab.add_text(&n.to_string());
    }
    for e in report.findings().flat_map(|f| &f.evidence) {
        vocab.add_text(&e.measure);
        vocab.add_text(e.unit);
    }
    for db in &plan.databases {
        vocab.add_text(&db.name);
        vocab.add_text(&db.db_name);
    }
    for trusted in [&plan.job_url, &report.head_sha].into_iter().flatten() {
        vocab.add_text(trusted);
        // The note's footer shows a commit by its first 12 characters.
        vocab.add_text(trusted.get(..12).unwrap_or(trusted));
    }
    // This run's and earlier runs' lines: made from hex, a time, a closed status and a
    // number, parsed strictly where they were read back.
    vocab.add_text(summary.run_line.as_deref().unwrap_or_default());
    for run in &summary.history {
        vocab.add_text(&run.line);
        vocab.add_text(&run.short);
        vocab.add_text(&run.when);
        vocab.add_text(run.result);
    }
    vocab.add_text(NOTE_MARKER);
    vocab
}

/// A gate for one text of a report view: the text itself when the gate lets all of it
/// through, else a fixed line. Built once per summary.
pub fn text_gate(
    plan: &Plan,
    report: &RunReport,
    work: &[DatabaseWork],
    renderer: &Renderer,
    summary: &PublicSummary,
) -> impl Fn(&str) -> String {
    let mut vocab = vocabulary(plan, report, work, renderer, summary);
    vocab.add_text(crate::report::junit::WORDS);
    let texts = renderer.gate_texts().clone();
    move |text: &str| {
        let one_line = text.replace(['\n', '\r'], " ");
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            gate(&one_line, &vocab, &texts)
        })) {
            Ok(Ok(g)) if g.withheld.is_empty() => one_line,
            _ => WITHHELD_TEXT.to_string(),
        }
    }
}

/// What a report view shows in place of a text the gate held back.
pub const WITHHELD_TEXT: &str =
    "(withheld: it carried a word that is not in the MR's migrations; see the full report)";

/// Why a note could not be made: nothing of it reaches the MR.
#[derive(Debug, thiserror::Error)]
enum NoteError {
    #[error("the note could not be rendered")]
    Render(#[source] RenderError),
    #[error("the leak gate failed")]
    Gate(#[source] GateError),
}

/// Renders `summary` and gates it.
pub fn gated(
    plan: &Plan,
    report: &RunReport,
    work: &[DatabaseWork],
    renderer: &Renderer,
    summary: &PublicSummary,
) -> GatedNote {
    let checked = renderer
        .summary(summary)
        .map_err(NoteError::Render)
        .and_then(|text| {
            let vocab = vocabulary(plan, report, work, renderer, summary);
            // A panic inside the gate counts as a failure (fail closed).
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                gate(&text, &vocab, renderer.gate_texts())
            }))
            .unwrap_or(Err(GateError::Panicked))
            .map_err(NoteError::Gate)
        });
    match checked {
        Ok(g) => {
            for w in &g.withheld {
                tracing::warn!(line = w.line, words = ?w.words, "the leak gate withheld an item of the MR note");
            }
            GatedNote {
                text: g.note,
                withheld: g.withheld,
                gate_error: None,
            }
        }
        Err(e) => {
            let e = crate::error_chain(&e);
            tracing::error!(error = %e, "the leak gate failed; posting only the fixed 'withheld' note");
            GatedNote {
                text: format!("{NOTE_MARKER}\n{REPORT_WITHHELD}"),
                withheld: Vec::new(),
                gate_error: Some(e),
            }
        }
    }
}
