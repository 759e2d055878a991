//! The public view of a migration's way back: how its down and its up again ended
//! (result words and SQLSTATEs, a closed vocabulary), how long the down took, and the
//! objects the down did not restore as kind plus name, the name only where the MR's
//! source spells it.

use super::rounding::duration_s;
use super::source_words::SourceWords;
use super::sqlstate::{condition_name, is_sqlstate};
use super::MigrationReport;
use crate::observe::schema::Change;
use serde::Serialize;

/// At most this many differences per migration in the note (all are in the full report).
const NOTE_DIFFERENCES: usize = 10;

#[derive(Debug, Clone, Serialize)]
pub struct PublicStep {
    /// One of [`crate::model::outcome::RESULTS`].
    pub result: &'static str,
    pub sqlstate: Option<String>,
    pub condition: Option<&'static str>,
    pub runtime: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct PublicDifference {
    /// `left` (the down kept it), `missing` (the down lost it), `changed`.
    pub change: &'static str,
    /// `table`, `column`, `index`, ...: a closed vocabulary.
    pub kind: &'static str,
    /// The object's own name, when the MR's source spells it.
    pub name: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PublicWayBack {
    pub down: PublicStep,
    /// The schema after the down is the schema before the up.
    pub restored: bool,
    pub differences: Vec<PublicDifference>,
    pub differences_cut: usize,
    pub up_again: Option<PublicStep>,
}

/// Every kind of object a difference can name (the gate's closed vocabulary).
pub const KINDS: &[&str] = &[
    "schema",
    "table",
    "view",
    "materialized view",
    "sequence",
    "foreign table",
    "type",
    "relation",
    "column",
    "constraint",
    "index",
    "function",
    "procedure",
    "trigger",
    "enum",
    "grant",
    "extension",
];

fn step(m: &MigrationReport) -> PublicStep {
    let sqlstate = m.sqlstate.clone().filter(|c| is_sqlstate(c));
    PublicStep {
        result: m.outcome.result(),
        condition: sqlstate.as_deref().and_then(condition_name),
        sqlstate,
        runtime: duration_s(m.wall_s),
    }
}

/// The way back of `m`, if it had one.
pub fn public(m: &MigrationReport, words: &SourceWords) -> Option<PublicWayBack> {
    let back = m.way_back.as_ref()?;
    let differences: Vec<PublicDifference> = back
        .differences
        .iter()
        .map(|d| PublicDifference {
            change: match d.change {
                Change::Left => "left",
                Change::Missing => "missing",
                Change::Changed => "changed",
            },
            kind: KINDS
                .iter()
                .find(|k| **k == d.kind)
                .copied()
                .unwrap_or("relation"),
            name: Some(d.object().to_string()).filter(|n| words.knows(n)),
        })
        .collect();
    let cut = differences.len().saturating_sub(NOTE_DIFFERENCES);
    Some(PublicWayBack {
        down: step(&back.down),
        restored: back.down.outcome == super::MigrationOutcome::Succeeded
            && back.differences.is_empty(),
        differences: differences.into_iter().take(NOTE_DIFFERENCES).collect(),
        differences_cut: cut,
        up_again: back.up_again.as_deref().map(step),
    })
}
