//! The public view of the declared queries' plans: per query, its normalized text (only
//! where every word is the MR's own), the plan's shape before and after (node types
//! from a closed list, with the relations and indexes the MR's text names), time and
//! buffers rounded, and the verdict. Literals never show: the text is normalized and
//! the plans' own filters and values stay in the full report.

use super::rounding::{count, duration_ms};
use super::source_words::SourceWords;
use crate::model::report::{Planned, QueryReport};
use crate::observe::plans::Plan;
use serde::Serialize;

/// The plan node types the note names (anything else shows as `other`).
pub const NODE_TYPES: &[&str] = &[
    "Seq Scan",
    "Index Scan",
    "Index Only Scan",
    "Bitmap Heap Scan",
    "Bitmap Index Scan",
    "Nested Loop",
    "Hash Join",
    "Merge Join",
    "Hash",
    "Sort",
    "Incremental Sort",
    "Aggregate",
    "Limit",
    "Result",
    "Materialize",
    "Memoize",
    "Gather",
    "Gather Merge",
    "Unique",
    "Append",
    "ModifyTable",
    "Subquery Scan",
    "CTE Scan",
    "Function Scan",
    "Values Scan",
    "WindowAgg",
    "LockRows",
    "SetOp",
    "other",
    "not planned",
];

/// The verdicts a query row can show (a closed vocabulary of the leak gate).
pub const VERDICTS: &[&str] = &["regressed", "improved", "unchanged", "broke", "not_planned"];

/// At most this many nodes of a plan are named.
const SHAPE_NODES: usize = 8;

#[derive(Debug, Clone, Serialize)]
pub struct PublicPlan {
    /// `Index Scan orders_total_idx on orders → Aggregate`, or "" when it failed.
    pub shape: String,
    pub time: String,
    pub buffers: String,
    /// The SQLSTATE when it failed.
    pub sqlstate: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PublicQuery {
    pub index: usize,
    /// Normalized (constants as `$n`), when the MR's text spells every word.
    pub text: Option<String>,
    pub before: PublicPlan,
    pub after: Option<PublicPlan>,
    pub verdict: Option<&'static str>,
}

fn shape(p: &Plan, words: &SourceWords) -> String {
    let mut parts: Vec<String> = p
        .nodes
        .iter()
        .take(SHAPE_NODES)
        .map(|n| {
            let kind = NODE_TYPES
                .iter()
                .find(|t| **t == n.node_type)
                .copied()
                .unwrap_or("other");
            let mut s = kind.to_string();
            if let Some(i) = n.index.as_deref().filter(|i| words.knows(i)) {
                s.push_str(&format!(" using {i}"));
            }
            if let Some(r) = n.relation.as_deref().filter(|r| words.knows(r)) {
                s.push_str(&format!(" on {r}"));
            }
            s
        })
        .collect();
    if p.nodes.len() > SHAPE_NODES {
        parts.push(format!("{} more", p.nodes.len() - SHAPE_NODES));
    }
    parts.join(" → ")
}

fn plan(p: &Planned, words: &SourceWords) -> PublicPlan {
    match p {
        Planned::Planned(p) => PublicPlan {
            shape: shape(p, words),
            time: duration_ms(p.execution_ms),
            buffers: count(p.buffers),
            sqlstate: None,
        },
        Planned::Failed(f) => PublicPlan {
            shape: "not planned".into(),
            time: String::new(),
            buffers: String::new(),
            sqlstate: f
                .sqlstate
                .clone()
                .filter(|c| super::sqlstate::is_sqlstate(c)),
        },
    }
}

/// The rounded view of one query.
pub fn public(q: &QueryReport, words: &SourceWords) -> PublicQuery {
    let text = crate::pg::statement::classify(&q.query.text)
        .and_then(|c| c.normalized)
        .filter(|t| words.covers(t));
    PublicQuery {
        index: q.query.index,
        text,
        before: plan(&q.before, words),
        after: q.after.as_ref().map(|a| plan(a, words)),
        verdict: q.verdict.map(crate::analyze::plans::Verdict::name),
    }
}
