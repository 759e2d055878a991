//! The exact trace of one migration, as report.json names it: each statement with its
//! times and the locks held after it, each lock as a span to its transaction's end, and
//! what the report counts but does not list ([`crate::trace`] builds it).

use crate::pg::lock_mode::LockMode;
use serde::Serialize;
use std::collections::BTreeMap;

/// A lock on a relation, named.
#[derive(Debug, Clone, Serialize)]
pub struct TracedLock {
    pub relation: String,
    pub oid: i64,
    pub mode: LockMode,
    /// The relation's file node as the session saw it after the statement (a new one
    /// means the statement rewrote it).
    pub relfilenode: Option<i64>,
}

/// One statement of the migration, as the trace saw it.
#[derive(Debug, Clone, Serialize)]
pub struct TracedStatement {
    /// 1-based position in the trace (wrappers included).
    pub index: usize,
    /// Its number among the file's statements, and the line it starts on, when the file
    /// holds it ([`super::source_map`]).
    pub number: Option<usize>,
    pub line: Option<usize>,
    /// Which transaction of the migration it ran in (numbered from 1 in order of start).
    pub transaction: usize,
    pub pid: i32,
    /// The statement's text (full report only).
    pub text: String,
    /// The SQL command (`CREATE INDEX`), from PostgreSQL's parser.
    pub kind: String,
    /// The relations it names (what it makes, renames, drops, then the tables it reads).
    pub objects: Vec<String>,
    pub extended: bool,
    pub started_ms: f64,
    pub ended_ms: f64,
    pub tag: Option<String>,
    pub rows: Option<i64>,
    pub sqlstate: Option<String>,
    pub tx_before: char,
    pub tx_after: char,
    /// `lock_timeout` in force when it ran, when the session reported it.
    pub lock_timeout: Option<String>,
    /// Relation locks the session held after it (the migration's own relations too).
    pub locks: Vec<TracedLock>,
    /// Plain statements of its session the bridge counted but did not record just
    /// before it ([`super::detail::Fold`]).
    #[serde(skip_serializing_if = "is_zero")]
    pub folded_before: usize,
}

/// One lock, from the statement that took it to its transaction's end.
#[derive(Debug, Clone, Serialize)]
pub struct LockSpan {
    pub oid: i64,
    pub relation: String,
    /// The table the lock protects (an index's table; the relation itself otherwise).
    pub table_oid: i64,
    pub table: String,
    pub mode: LockMode,
    /// The statement that first held it.
    pub statement_index: usize,
    /// The transaction it belongs to (as [`TracedStatement::transaction`]).
    pub transaction: usize,
    pub acquired_ms: f64,
    pub released_ms: f64,
    pub held_ms: f64,
    /// The relation existed before the migration began.
    pub preexisting: bool,
    /// `lock_timeout` when it was taken ("0" is none), when known.
    pub lock_timeout: Option<String>,
    /// How many statements started while it was held, after the one that took it.
    pub later_statements: usize,
    /// The relation's file node when the lock was last seen (a rewrite shows here).
    pub relfilenode: Option<i64>,
}

/// What the report counts but does not list.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Elided {
    pub statements: usize,
    /// Their time, summed.
    pub ms: f64,
    /// Rows their command tags reported, summed.
    pub rows: i64,
    /// How many of each command.
    pub kinds: BTreeMap<String, usize>,
    /// Lock spans not listed.
    pub lock_spans: usize,
}

/// The whole trace of one migration.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Timeline {
    pub statements: Vec<TracedStatement>,
    pub locks: Vec<LockSpan>,
    /// What the report counts but does not list ([`super::detail`]).
    pub elided: Option<Elided>,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}
