//! The session state machine: what the bridge learns from the messages going by in
//! either direction of one box session.
//!
//! The client's messages say which statements start ([`SessionState::on_client`]): a
//! simple Query (split into its statements by PostgreSQL's parser), or an Execute of a
//! portal bound to a parsed statement. The server's messages say how each ends
//! ([`SessionState::on_server`]): CommandComplete with its tag, EmptyQueryResponse, or
//! an ErrorResponse with its SQLSTATE, after which the rest of the unit does not run.
//! ReadyForQuery closes a unit of work and gives the transaction status after it
//! ([`SessionState::on_ready`]). The event trigger's notices are attached to the
//! statement in flight and never reach the box.

use crate::pgwire::messages::{Backend, Frontend};
use crate::trace::event_trigger::LockReport;
use crate::trace::{HeldLock, StatementRecord};
use std::collections::{HashMap, VecDeque};
use std::time::Instant;

/// Command tags after which a session in a transaction holds no lock worth a boundary
/// read: data statements take only ROW EXCLUSIVE and weaker, and session commands none.
const NO_NEW_STRONG_LOCKS: &[&str] = &[
    "INSERT",
    "UPDATE",
    "DELETE",
    "SELECT",
    "MERGE",
    "COPY",
    "FETCH",
    "MOVE",
    "SET",
    "SHOW",
    "BEGIN",
    "START",
    "SAVEPOINT",
    "RELEASE",
    "RESET",
    "DECLARE",
    "CLOSE",
    "PREPARE",
    "EXECUTE",
    "DEALLOCATE",
    "LISTEN",
    "NOTIFY",
    "",
];

/// Whether a unit of work starts with this client message (the bridge waits for the
/// previous unit's ReadyForQuery before passing it on, so every boundary is observable).
pub fn starts_unit(msg: &Frontend, batch_open: bool) -> bool {
    match msg {
        Frontend::Query(_) | Frontend::FunctionCall => true,
        Frontend::Parse { .. } | Frontend::Bind { .. } | Frontend::Execute { .. } => !batch_open,
        Frontend::Other(tag) => !batch_open && matches!(tag, b'D' | b'C' | b'H'),
        Frontend::Sync | Frontend::Copy | Frontend::Terminate => false,
    }
}

#[derive(Debug)]
pub struct SessionState {
    pub pid: Option<i32>,
    status: u8,
    prepared: HashMap<String, String>,
    portals: HashMap<String, String>,
    /// Statements sent and not yet answered, in order.
    pending: VecDeque<StatementRecord>,
    /// Statements answered since the last ReadyForQuery.
    done: Vec<StatementRecord>,
    /// An extended-protocol batch is open (messages since the last Sync).
    pub batch_open: bool,
    /// `lock_timeout` as the session set it (`None`: the role's default).
    lock_timeout: Option<String>,
    /// A `SET LOCAL lock_timeout` until the transaction ends.
    local_lock_timeout: Option<String>,
}

impl Default for SessionState {
    fn default() -> Self {
        SessionState {
            pid: None,
            status: b'I',
            prepared: HashMap::new(),
            portals: HashMap::new(),
            pending: VecDeque::new(),
            done: Vec::new(),
            batch_open: false,
            lock_timeout: None,
            local_lock_timeout: None,
        }
    }
}

/// The statements of a simple query's text (the whole text when it does not parse).
fn split(text: &str) -> Vec<String> {
    if crate::pg::lexical::single_statement(text) {
        return vec![text.trim().to_string()];
    }
    match pg_query::split_with_parser(text) {
        Ok(parts) if parts.len() > 1 => parts.into_iter().map(|s| s.trim().to_string()).collect(),
        _ => vec![text.trim().to_string()],
    }
}

impl SessionState {
    fn start(&mut self, text: String, extended: bool, now: Instant) {
        if let Some(c) = crate::pg::settings::change_of(&text, "lock_timeout") {
            match c.local {
                true => self.local_lock_timeout = c.value,
                false => self.lock_timeout = c.value,
            }
        }
        let lock_timeout = self
            .local_lock_timeout
            .clone()
            .or_else(|| self.lock_timeout.clone());
        self.pending.push_back(StatementRecord {
            pid: self.pid.unwrap_or(0),
            text,
            extended,
            started: now,
            ended: now,
            tag: None,
            sqlstate: None,
            tx_before: self.status as char,
            tx_after: self.status as char,
            locks: Vec::new(),
            lock_timeout,
            folded_before: 0,
        });
    }

    /// No transaction is open.
    pub fn idle(&self) -> bool {
        self.status == b'I'
    }

    /// A message from the client is about to be passed to the server.
    pub fn on_client(&mut self, msg: Frontend, now: Instant) {
        match msg {
            Frontend::Query(text) => {
                for s in split(&text) {
                    self.start(s, false, now);
                }
            }
            Frontend::Parse { statement, query } => {
                self.prepared.insert(statement, query);
                self.batch_open = true;
            }
            Frontend::Bind { portal, statement } => {
                let text = self.prepared.get(&statement).cloned().unwrap_or_default();
                self.portals.insert(portal, text);
                self.batch_open = true;
            }
            Frontend::Execute { portal } => {
                let text = self.portals.get(&portal).cloned().unwrap_or_default();
                self.start(text, true, now);
                self.batch_open = true;
            }
            Frontend::Sync => self.batch_open = false,
            Frontend::Other(b'D' | b'C' | b'H') => self.batch_open = true,
            _ => {}
        }
    }

    fn finish(&mut self, now: Instant, tag: Option<String>, sqlstate: Option<String>) {
        if let Some(mut r) = self.pending.pop_front() {
            r.ended = now;
            r.tag = tag;
            r.sqlstate = sqlstate;
            self.done.push(r);
        }
    }

    /// The statement a lock report belongs to: the one in flight, else the last done.
    fn current(&mut self) -> Option<&mut StatementRecord> {
        match self.pending.front_mut() {
            Some(r) => Some(r),
            None => self.done.last_mut(),
        }
    }

    /// A lock report from the event trigger (taken out of the stream).
    pub fn on_lock_report(&mut self, report: LockReport) {
        if let Some(r) = self.current() {
            r.merge_locks(&report.locks);
            r.lock_timeout = Some(report.lock_timeout);
        }
    }

    /// A message from the server (ReadyForQuery goes to [`SessionState::on_ready`]).
    pub fn on_server(&mut self, msg: &Backend, now: Instant) {
        match msg {
            Backend::CommandComplete(tag) => self.finish(now, Some(tag.clone()), None),
            Backend::EmptyQuery => self.finish(now, Some(String::new()), None),
            Backend::PortalSuspended => self.finish(now, Some("(suspended)".into()), None),
            Backend::Error(e) => {
                if self.pending.is_empty() {
                    return;
                }
                self.finish(now, None, Some(e.sqlstate.clone()));
                // The rest of the unit does not run (the server skips to Sync).
                self.pending.clear();
            }
            Backend::BackendKeyData { pid } => self.pid = Some(*pid),
            _ => {}
        }
    }

    /// Whether the session, now ready with `status`, should have its locks read before
    /// it may go on: it is in a transaction and a statement of the unit could have
    /// taken a strong lock.
    pub fn wants_boundary_read(&self, status: u8) -> bool {
        status == b'T'
            && self.done.iter().any(|r| {
                let tag = r.tag.as_deref().unwrap_or("");
                let first = tag.split(' ').next().unwrap_or("");
                r.sqlstate.is_none() && !NO_NEW_STRONG_LOCKS.contains(&first)
            })
    }

    /// ReadyForQuery: the unit is over. Returns its statements, the last one carrying
    /// the locks read at the boundary.
    pub fn on_ready(&mut self, status: u8, boundary: Vec<HeldLock>) -> Vec<StatementRecord> {
        self.status = status;
        self.pending.clear();
        let mut done = std::mem::take(&mut self.done);
        if let Some(last) = done.last_mut() {
            last.merge_locks(&boundary);
        }
        if status == b'I' {
            self.local_lock_timeout = None;
        }
        for r in &mut done {
            r.tx_after = status as char;
        }
        done
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pgwire::messages::ServerMessage;

    fn now() -> Instant {
        Instant::now()
    }

    #[test]
    fn a_simple_query_of_two_statements_is_two_records() {
        let mut s = SessionState::default();
        s.on_client(Frontend::Query("BEGIN; LOCK TABLE t".into()), now());
        s.on_server(&Backend::CommandComplete("BEGIN".into()), now());
        s.on_server(&Backend::CommandComplete("LOCK TABLE".into()), now());
        assert!(s.wants_boundary_read(b'T'));
        let done = s.on_ready(b'T', vec![]);
        assert_eq!(done.len(), 2);
        assert_eq!(done[1].text, "LOCK TABLE t");
        assert_eq!(done[1].tag.as_deref(), Some("LOCK TABLE"));
        assert_eq!((done[0].tx_before, done[1].tx_after), ('I', 'T'));
    }

    #[test]
    fn extended_executes_take_their_text_from_the_parsed_statement() {
        let mut s = SessionState::default();
        s.on_client(
            Frontend::Parse {
                statement: "s1".into(),
                query: "UPDATE t SET a = $1".into(),
            },
            now(),
        );
        s.on_client(
            Frontend::Bind {
                portal: "".into(),
                statement: "s1".into(),
            },
            now(),
        );
        s.on_client(Frontend::Execute { portal: "".into() }, now());
        s.on_client(Frontend::Sync, now());
        assert!(!s.batch_open);
        s.on_server(&Backend::CommandComplete("UPDATE 3".into()), now());
        assert!(!s.wants_boundary_read(b'T'), "data statements need no read");
        let done = s.on_ready(b'I', vec![]);
        assert_eq!(done[0].text, "UPDATE t SET a = $1");
        assert!(done[0].extended);
    }

    #[test]
    fn an_error_ends_the_unit_and_names_the_failed_statement() {
        let mut s = SessionState::default();
        s.on_client(
            Frontend::Query("SELECT 1; SELECT x; SELECT 2".into()),
            now(),
        );
        s.on_server(&Backend::CommandComplete("SELECT 1".into()), now());
        s.on_server(
            &Backend::Error(ServerMessage {
                sqlstate: "42703".into(),
                ..Default::default()
            }),
            now(),
        );
        let done = s.on_ready(b'I', vec![]);
        assert_eq!(done.len(), 2);
        assert_eq!(done[1].sqlstate.as_deref(), Some("42703"));
    }

    #[test]
    fn lock_reports_go_to_the_statement_in_flight() {
        let mut s = SessionState::default();
        s.on_client(Frontend::Query("DROP INDEX i".into()), now());
        s.on_lock_report(LockReport {
            lock_timeout: "0".into(),
            locks: vec![HeldLock {
                oid: 16400,
                mode: crate::pg::lock_mode::LockMode::AccessExclusive,
                relfilenode: None,
            }],
        });
        s.on_server(&Backend::CommandComplete("DROP INDEX".into()), now());
        let done = s.on_ready(b'I', vec![]);
        assert_eq!(done[0].locks.len(), 1);
        assert_eq!(done[0].lock_timeout.as_deref(), Some("0"));
    }
}
