//! The rules, one file each, in the manner of Squawk's rule files: each reads an
//! [`Input`] (one migration's trace, catalog before and after, statistics) and returns
//! its causes, each with its evidence folded in. None looks at a relation the migration
//! created itself. Rewrites ([`rewrites`]) are one detector for five ids, because one
//! rewrite has one cause and the ids only say which (a type change is not also a bare
//! rewrite).
//!
//! Each file has unit tests on a recorded trace where the rule's judgement is more than
//! the catalog comparison; the end-to-end cases are in `tests/findings.rs`.

mod added_constraints;
mod cascade;
mod catalog_write;
mod concurrently_in_transaction;
mod constraint_valid;
mod dropped;
mod exclusion;
mod failure;
mod fk_unindexed;
mod held_across;
mod held_long;
mod index_blocking;
mod index_drop;
mod index_recreated;
mod invalid_index;
mod json_column;
mod lock_timeout;
mod many_rows;
mod migration_time;
mod not_null_column;
mod ownership;
mod renamed;
mod rewrites;
mod schema_changes;
mod set_not_null;
mod slow_statement;
mod standby_replay;
mod traffic_wait;
mod triggers_disabled;
mod unique_in_alter;
mod wal;

#[cfg(test)]
pub(crate) mod recorded;

use super::{Finding, Input};
use crate::model::Severity;
use crate::trace::timeline::{LockSpan, TracedStatement};
use std::collections::BTreeMap;

/// A rule: the causes it finds in one migration.
type Check = fn(&Input<'_>) -> Vec<Finding>;

/// Every rule, in the catalogue's order.
const CHECKS: &[Check] = &[
    lock_timeout::check,
    held_across::check,
    held_long::check,
    traffic_wait::check,
    rewrites::check,
    index_blocking::check,
    index_drop::check,
    concurrently_in_transaction::check,
    invalid_index::check,
    index_recreated::check,
    constraint_valid::check,
    set_not_null::check,
    unique_in_alter::check,
    fk_unindexed::check,
    exclusion::check,
    triggers_disabled::check,
    json_column::check,
    renamed::check,
    dropped::check,
    not_null_column::check,
    cascade::check,
    catalog_write::check,
    migration_time::check,
    slow_statement::check,
    many_rows::check,
    wal::check,
    standby_replay::check,
    ownership::check,
    failure::check,
];

pub fn all(input: &Input<'_>) -> Vec<Finding> {
    CHECKS.iter().flat_map(|check| check(input)).collect()
}

/// True when `text` names `name` as a word (case-insensitive, quotes allowed).
fn names(text: &str, name: &str) -> bool {
    let (text, name) = (text.to_lowercase(), name.to_lowercase());
    let is_word = |c: char| c.is_alphanumeric() || c == '_';
    text.match_indices(&name).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + name.len()..].chars().next();
        !before.is_some_and(is_word) && !after.is_some_and(is_word)
    })
}

/// The first statement of one of `kinds` whose text names `name`.
fn statement_naming<'a>(
    input: &Input<'a>,
    kinds: &[&str],
    name: &str,
) -> Option<&'a TracedStatement> {
    input
        .trace
        .statements
        .iter()
        .find(|s| kinds.contains(&s.kind.as_str()) && names(&s.text, name))
}

/// The statement that failed, when one did.
fn failed_statement<'a>(input: &Input<'a>) -> Option<&'a TracedStatement> {
    input
        .trace
        .statements
        .iter()
        .rev()
        .find(|s| s.sqlstate.is_some())
}

/// The blocking locks of each transaction, the strongest and longest per table, worst
/// first (by what the application felt), each transaction in order.
fn blocking_by_transaction<'a>(input: &Input<'a>) -> Vec<Vec<&'a LockSpan>> {
    let mut by: BTreeMap<usize, BTreeMap<i64, &'a LockSpan>> = BTreeMap::new();
    for s in input.blocking_spans() {
        let e = by
            .entry(s.transaction)
            .or_default()
            .entry(s.table_oid)
            .or_insert(s);
        if (s.mode, s.held_ms) > (e.mode, e.held_ms) {
            *e = s;
        }
    }
    by.into_values()
        .map(|tables| {
            let mut spans: Vec<&LockSpan> = tables.into_values().collect();
            spans.sort_by(|a, b| {
                let w = |s: &LockSpan| super::span_impact(s).weight();
                w(b).total_cmp(&w(a))
                    .then(a.statement_index.cmp(&b.statement_index))
            });
            spans
        })
        .collect()
}

/// Which statement a cause made of several lock spans is attributed to.
#[derive(Clone, Copy)]
enum At {
    /// The first statement that took one of them (where a `SET lock_timeout` belongs).
    First,
    /// The statement that took the worst one.
    Worst,
}

/// One cause for several lock spans of one transaction (worst first): the worst span's
/// table is its object, each span its own evidence (against `threshold`).
fn lock_cause(
    input: &Input<'_>,
    id: crate::model::RuleId,
    spans: &[&LockSpan],
    threshold: Option<f64>,
    at: At,
) -> Option<Finding> {
    use super::LockEvidence;
    let worst = spans.first()?;
    let at = match at {
        At::First => spans.iter().min_by_key(|s| s.statement_index)?,
        At::Worst => worst,
    };
    let mut f = super::finding(id, &worst.table, input.statement(at.statement_index));
    for s in spans {
        f = f.also(&s.table).held(s, threshold);
    }
    Some(f)
}

/// An error on a table that held no rows before is a warning: the lock it takes is
/// short, and the danger is what it would do on a populated table.
fn by_size(f: Finding, bytes: i64) -> Finding {
    match f.severity {
        Severity::Error if bytes <= 0 => f.severity(Severity::Warning),
        _ => f,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn names_match_whole_words_only() {
        assert!(super::names("DROP INDEX \"Orders_idx\";", "orders_idx"));
        assert!(!super::names("DROP INDEX orders_idx2", "orders_idx"));
    }
}
