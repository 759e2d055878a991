//! One box session through the bridge: startup and login ([`super::startup`]), then
//! messages relayed both ways, each direction cut into messages by one framer
//! ([`crate::pgwire`]) and read by the session state machine ([`super::session`]).
//!
//! Every boundary between units of work is observable: a message that starts a new
//! unit waits until the server has answered every earlier one (a simple-protocol
//! client waits anyway; a pipelining one is served a batch at a time, same results).
//! When a unit leaves the session inside a transaction after a statement that may have
//! taken a strong lock, the ReadyForQuery is held while the tracer reads the session's
//! locks, then passed on. An autocommit schema change runs inside the bridge's own
//! transaction ([`super::autocommit`]): `BEGIN`, the statement, an in-session lock
//! read and `COMMIT` go in one flight, so its locks are read before they go at the
//! cost of no extra round trip. Lock-report notices are taken out of the stream.

use super::autocommit;
use super::error::SessionError;
use super::session::{starts_unit, SessionState};
use super::startup::{login, read_client_start, ClientStart, LoginFailure};
use super::{BridgeLog, Relaying, Upstream};
use crate::pgwire::messages::{Backend, Frontend};
use crate::pgwire::{Framer, Piece};
use crate::trace::event_trigger;
use crate::trace::event_trigger::LockReport;
use crate::trace::reader::{self, LockReader};
use bytes::BytesMut;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpStream, UnixStream};
use tokio::sync::watch;

pub async fn session(
    mut client: UnixStream,
    up: &Upstream,
    log: &BridgeLog,
    mode: Relaying,
) -> Result<(), SessionError> {
    let start = read_client_start(&mut client).await?;
    let mut server = TcpStream::connect((up.host.as_str(), up.port))
        .await
        .map_err(|source| SessionError::Connect {
            addr: format!("{}:{}", up.host, up.port),
            source,
        })?;
    let _ = server.set_nodelay(true);
    let params = match start {
        ClientStart::Cancel(packet) => {
            server
                .write_all(&packet)
                .await
                .map_err(SessionError::io("passing a cancel request on"))?;
            return Ok(());
        }
        ClientStart::Session(params) => params,
    };
    let mut buf = BytesMut::with_capacity(8192);
    match login(&mut server, up, &params, &mut buf).await {
        Ok(()) => {}
        Err(LoginFailure::Refused(raw)) => {
            if let Backend::Error(e) = Backend::parse(&raw) {
                log.error(e);
            }
            let _ = client.write_all(&raw).await;
            return Err(SessionError::LoginRefused);
        }
        Err(LoginFailure::Broken(e)) => return Err(e),
    }
    // AuthenticationOk: the client never had to authenticate.
    client
        .write_all(&[b'R', 0, 0, 0, 8, 0, 0, 0, 0])
        .await
        .map_err(SessionError::io("writing to the client"))?;
    let reader = match mode {
        Relaying::Traced(reader) => reader,
        Relaying::Plain => {
            client
                .write_all(&buf)
                .await
                .map_err(SessionError::io("writing to the client"))?;
            let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
            return Ok(());
        }
    };

    let (mut client_rd, mut client_wr) = client.into_split();
    let (mut server_rd, server_wr) = server.into_split();
    let state = Mutex::new(SessionState::default());
    // Units sent and not yet answered by ReadyForQuery.
    let (outstanding, _) = watch::channel(0usize);
    let relay = Relay {
        state: &state,
        units: &Mutex::new(VecDeque::new()),
        outstanding: &outstanding,
        server: &tokio::sync::Mutex::new(server_wr),
        log,
        reader,
    };
    tokio::select! {
        _ = relay.up(&mut client_rd) => {},
        _ = relay.down(&mut server_rd, &mut client_wr, buf) => {},
    }
    let pid = relay.state().pid;
    log.session_ended(pid);
    Ok(())
}

/// Whose answer the server is sending, unit by unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unit {
    /// The client's own unit, passed on as it is.
    Client,
    /// The bridge's `BEGIN` before a wrapped statement: not passed on.
    Begin,
    /// A client statement the bridge wrapped ([`super::autocommit`]); its
    /// ReadyForQuery (inside the transaction) is not passed on.
    Wrapped,
    /// The bridge's lock read after it ([`reader::IN_SESSION_LOCKS`]): its rows are
    /// read, nothing is passed on; the wrapped statement is logged at its end.
    Report,
    /// The bridge's `COMMIT` after them: its tag is not passed on, its errors and its
    /// ReadyForQuery (idle) are. `committing`: the wrapped statement succeeded, so the
    /// tag must say COMMIT (a ROLLBACK would mean the report failed and took the
    /// statement with it, which the bridge reports).
    Closing { committing: bool },
}

struct Relay<'a, W> {
    state: &'a Mutex<SessionState>,
    units: &'a Mutex<VecDeque<Unit>>,
    outstanding: &'a watch::Sender<usize>,
    server: &'a tokio::sync::Mutex<W>,
    log: &'a BridgeLog,
    reader: Option<Arc<dyn LockReader>>,
}

fn query(text: &str) -> BytesMut {
    let mut body = text.as_bytes().to_vec();
    body.push(0);
    crate::pgwire::message(b'Q', &body)
}

impl<W: AsyncWrite + Unpin> Relay<'_, W> {
    fn state(&self) -> std::sync::MutexGuard<'_, SessionState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn units(&self) -> std::sync::MutexGuard<'_, VecDeque<Unit>> {
        self.units.lock().unwrap_or_else(|p| p.into_inner())
    }

    async fn send(&self, bytes: &[u8]) -> std::io::Result<()> {
        self.server.lock().await.write_all(bytes).await
    }

    /// A unit was sent: one more ReadyForQuery to come.
    fn sent(&self, unit: Unit) {
        self.units().push_back(unit);
        self.outstanding.send_modify(|n| *n += 1);
    }

    /// Client to server.
    async fn up<R: AsyncRead + Unpin>(&self, client: &mut R) -> std::io::Result<()> {
        let mut framer = Framer::default();
        let mut buf = BytesMut::with_capacity(8192);
        let mut idle = self.outstanding.subscribe();
        loop {
            let Some(piece) = framer.next(&mut buf) else {
                if client.read_buf(&mut buf).await? == 0 {
                    let _ = self.server.lock().await.shutdown().await;
                    return Ok(());
                }
                continue;
            };
            let msg = match &piece {
                Piece::Whole(m) => Some(Frontend::parse(m)),
                Piece::LargeStart { tag, bytes } => Some(large_frontend(*tag, bytes)),
                Piece::LargeMore(_) => None,
            };
            if let Some(msg) = msg {
                let batch_open = self.state().batch_open;
                if starts_unit(&msg, batch_open) {
                    let _ = idle.wait_for(|n| *n == 0).await;
                }
                let wrap = self.reader.is_some()
                    && matches!(&msg, Frontend::Query(text)
                        if self.state().idle() && autocommit::wrappable(text));
                if wrap {
                    self.sent(Unit::Begin);
                    self.send(&query(autocommit::BEGIN)).await?;
                }
                let ends_unit = matches!(
                    msg,
                    Frontend::Query(_) | Frontend::Sync | Frontend::FunctionCall
                );
                self.state().on_client(msg, Instant::now());
                if ends_unit {
                    self.sent(if wrap { Unit::Wrapped } else { Unit::Client });
                }
                self.send(piece.bytes()).await?;
                if wrap {
                    // In the same flight: the locks are read before the COMMIT runs.
                    self.sent(Unit::Report);
                    self.send(&query(reader::IN_SESSION_LOCKS)).await?;
                    self.sent(Unit::Closing { committing: false });
                    self.send(&query(autocommit::COMMIT)).await?;
                }
                continue;
            }
            self.send(piece.bytes()).await?;
        }
    }

    /// Server to client.
    async fn down<R: AsyncRead + Unpin, C: AsyncWrite + Unpin>(
        &self,
        server: &mut R,
        client: &mut C,
        mut buf: BytesMut,
    ) -> std::io::Result<()> {
        let mut framer = Framer::default();
        loop {
            let Some(piece) = framer.next(&mut buf) else {
                if server.read_buf(&mut buf).await? == 0 {
                    return Ok(());
                }
                continue;
            };
            let Piece::Whole(m) = &piece else {
                client.write_all(piece.bytes()).await?;
                continue;
            };
            let unit = self.units().front().copied().unwrap_or(Unit::Client);
            let msg = Backend::parse(m);
            if let Backend::ReadyForQuery(status) = msg {
                if self.ready(unit, status).await? {
                    client.write_all(m).await?;
                }
                continue;
            }
            let pass = match (unit, msg) {
                (Unit::Begin, _) => false,
                (Unit::Report, Backend::Other(b'D')) => {
                    let row = crate::pgwire::messages::data_row(m);
                    if let Some((lock, lock_timeout)) =
                        row.as_deref().and_then(reader::in_session_row)
                    {
                        self.state().on_lock_report(LockReport {
                            lock_timeout,
                            locks: vec![lock],
                        });
                    }
                    false
                }
                (Unit::Report, _) => false,
                (Unit::Closing { committing }, Backend::CommandComplete(tag)) => {
                    if committing && tag != "COMMIT" {
                        self.log.failure(format!(
                            "the trace's lock read failed inside the transaction of an \
                             autocommit schema change, so it ended in {tag}: the rehearsal \
                             lost that statement"
                        ));
                    }
                    false
                }
                (Unit::Closing { .. }, Backend::Error(e)) => {
                    self.log.error(e);
                    true
                }
                (_, Backend::Notice(n)) => match event_trigger::decode(&n.message) {
                    Some(report) => {
                        self.state().on_lock_report(report);
                        false
                    }
                    None => true,
                },
                (Unit::Closing { .. }, _) => true,
                (_, Backend::BackendKeyData { pid }) => {
                    self.log.session_started(pid);
                    self.state()
                        .on_server(&Backend::BackendKeyData { pid }, Instant::now());
                    true
                }
                (_, Backend::Error(e)) => {
                    self.state()
                        .on_server(&Backend::Error(e.clone()), Instant::now());
                    self.log.error(e);
                    true
                }
                (_, other) => {
                    self.state().on_server(&other, Instant::now());
                    true
                }
            };
            if pass {
                client.write_all(m).await?;
            }
        }
    }

    /// A ReadyForQuery for `unit`. Returns whether it goes on to the client.
    async fn ready(&self, unit: Unit, status: u8) -> std::io::Result<bool> {
        {
            let mut units = self.units();
            units.pop_front();
            if unit == Unit::Wrapped {
                // The Closing two units on learns whether a COMMIT is due.
                if let Some(Unit::Closing { committing }) = units.get_mut(1) {
                    *committing = status == b'T';
                }
            }
        }
        let pass = match unit {
            Unit::Begin | Unit::Wrapped => false,
            Unit::Report => {
                // The wrapped statement's locks came in the rows; its transaction
                // ends with the COMMIT in flight, so the client will see an idle session.
                let records = self.state().on_ready(b'I', Vec::new());
                self.log.statements(records);
                false
            }
            Unit::Closing { .. } => true,
            Unit::Client => {
                self.end_unit(status).await;
                true
            }
        };
        self.outstanding.send_modify(|n| *n = n.saturating_sub(1));
        Ok(pass)
    }

    /// A client unit is over: read the locks if worth it (the session is held
    /// meanwhile), then log the unit's statements.
    async fn end_unit(&self, status: u8) {
        let (wants, pid) = {
            let s = self.state();
            (s.wants_boundary_read(status), s.pid)
        };
        let boundary = match (&self.reader, pid) {
            (Some(reader), Some(pid)) if wants => reader.locks(pid).await,
            _ => Vec::new(),
        };
        let records = self.state().on_ready(status, boundary);
        self.log.statements(records);
    }
}

/// A client message too large to inspect: only a query's or a parse's start matters.
fn large_frontend(tag: u8, start: &[u8]) -> Frontend {
    let placeholder = "(a statement too large to inspect)".to_string();
    match tag {
        b'Q' => Frontend::Query(placeholder),
        b'P' => {
            let body = crate::pgwire::body(start);
            let name = body
                .iter()
                .position(|b| *b == 0)
                .map(|end| String::from_utf8_lossy(&body[..end]).into_owned())
                .unwrap_or_default();
            Frontend::Parse {
                statement: name,
                query: placeholder,
            }
        }
        b'd' | b'c' | b'f' => Frontend::Copy,
        other => Frontend::Other(other),
    }
}
