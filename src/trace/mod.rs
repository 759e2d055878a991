//! The exact trace: every statement the box sent, with the locks its session held after
//! it, and how long each lock was held.
//!
//! Locks reach the trace two ways. Inside the session, an event trigger
//! ([`event_trigger`]) reports after every DDL command the locks the session holds,
//! before the statement's transaction commits, so even an autocommit `DROP INDEX` that
//! holds ACCESS EXCLUSIVE for a millisecond is seen. At a protocol boundary inside a
//! transaction (after anything but plain data statements), the bridge holds the session
//! and reads `pg_locks` for its backend from the tracer's own connection ([`reader`]).
//! [`timeline`] turns the bridge's raw records into statements and lock spans.

pub mod blocking;
pub mod detail;
pub mod event_trigger;
pub mod reader;
pub mod source_map;
pub mod timeline;

use crate::pg::lock_mode::LockMode;
use serde::Serialize;
use std::time::Instant;

/// A relation lock a session held.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct HeldLock {
    pub oid: i64,
    pub mode: LockMode,
    /// The relation's file node as the session saw it (a new one means a rewrite).
    pub relfilenode: Option<i64>,
}

/// One statement as the bridge saw it go by (raw, before [`timeline::build`]).
#[derive(Debug, Clone)]
pub struct StatementRecord {
    /// Backend pid of the session.
    pub pid: i32,
    pub text: String,
    pub extended: bool,
    pub started: Instant,
    pub ended: Instant,
    /// The command tag (`CREATE INDEX`, `UPDATE 12`); none when it failed.
    pub tag: Option<String>,
    pub sqlstate: Option<String>,
    /// Transaction status before and after (`I`, `T`, `E`).
    pub tx_before: char,
    pub tx_after: char,
    /// Locks the session held after the statement (event trigger and boundary read).
    pub locks: Vec<HeldLock>,
    /// `lock_timeout` when the statement ran: as the event trigger reported it, else as
    /// the session's `SET`s left it (`None`: the role's default).
    pub lock_timeout: Option<String>,
    /// Plain statements of the same session folded into the count since its previous
    /// record ([`detail::Fold`]).
    pub folded_before: usize,
}

impl StatementRecord {
    /// Adds locks to the statement's set, keeping each (relation, mode) once and the
    /// newest file node.
    pub fn merge_locks(&mut self, locks: &[HeldLock]) {
        for l in locks {
            match self
                .locks
                .iter_mut()
                .find(|h| h.oid == l.oid && h.mode == l.mode)
            {
                Some(h) => h.relfilenode = l.relfilenode.or(h.relfilenode),
                None => self.locks.push(*l),
            }
        }
    }
}
