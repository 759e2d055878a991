//! PF-X01: a migration for one database touched a table that the ownership map gives
//! to another (decomposed databases). The tables touched are those the session locked,
//! as the trace saw them, and those its statements name, as PostgreSQL's parser reads
//! them (a statement that failed before locking still names its tables).

use super::super::{finding, Evidence, Finding, Input, LockEvidence};
use crate::model::RuleId;
use crate::trace::timeline::LockSpan;
use std::collections::BTreeMap;

/// One touched table: the strongest lock the session took on it and the first
/// statement that named it.
#[derive(Default)]
struct Touch<'a> {
    span: Option<&'a LockSpan>,
    statement: Option<usize>,
    statements: usize,
}

pub fn check(input: &Input<'_>) -> Vec<Finding> {
    if input.owners.is_empty() {
        return Vec::new();
    }
    let mut touched: BTreeMap<String, Touch<'_>> = BTreeMap::new();
    for span in &input.trace.locks {
        let t = touched.entry(span.table.clone()).or_default();
        if t.span.map_or(true, |s| span.mode > s.mode) {
            t.span = Some(span);
        }
    }
    for st in &input.trace.statements {
        for object in &st.objects {
            let t = touched.entry(object.clone()).or_default();
            t.statement.get_or_insert(st.index);
            t.statements += 1;
        }
    }
    let mut out = Vec::new();
    for (table, touch) in &touched {
        let Some(owner) = input.owners.owner_of(table) else {
            continue;
        };
        if owner == input.database {
            continue;
        }
        let index = touch.span.map(|s| s.statement_index).or(touch.statement);
        let st = index.and_then(|i| input.statement(i));
        let f = finding(RuleId::X01, table.clone(), st).with(Evidence::new(
            format!("statements naming a table of database {owner}"),
            touch.statements as f64,
            "statements",
        ));
        out.push(match touch.span {
            Some(span) => f.held(span, None),
            None => f,
        });
    }
    out
}
