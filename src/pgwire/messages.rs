//! The message bodies the bridge reads, typed: what the client asks ([`Frontend`]) and
//! what the server answers ([`Backend`]). Anything else is [`Frontend::Other`] or
//! [`Backend::Other`] and passes through untouched.

use super::body;

/// Fields of an ErrorResponse or NoticeResponse. `message` and `detail` can carry data
/// from the clone: they belong in the full report only.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ServerMessage {
    pub sqlstate: String,
    pub severity: String,
    pub message: String,
    pub detail: Option<String>,
}

/// A message from the client.
#[derive(Debug, PartialEq, Eq)]
pub enum Frontend {
    /// Simple query protocol: one text, perhaps several statements.
    Query(String),
    Parse {
        statement: String,
        query: String,
    },
    Bind {
        portal: String,
        statement: String,
    },
    Execute {
        portal: String,
    },
    Sync,
    /// COPY data, done or fail: part of a statement already running.
    Copy,
    /// A fast-path function call (answered with ReadyForQuery like a query).
    FunctionCall,
    Terminate,
    Other(u8),
}

/// A message from the server.
#[derive(Debug, PartialEq, Eq)]
pub enum Backend {
    CommandComplete(String),
    EmptyQuery,
    PortalSuspended,
    /// `I` idle, `T` in a transaction, `E` in a failed transaction.
    ReadyForQuery(u8),
    Error(ServerMessage),
    Notice(ServerMessage),
    BackendKeyData {
        pid: i32,
    },
    Other(u8),
}

/// A NUL-terminated string and what follows it.
fn cstr(b: &[u8]) -> Option<(String, &[u8])> {
    let end = b.iter().position(|c| *c == 0)?;
    Some((
        String::from_utf8_lossy(&b[..end]).into_owned(),
        &b[end + 1..],
    ))
}

impl Frontend {
    pub fn parse(msg: &[u8]) -> Frontend {
        let tag = msg.first().copied().unwrap_or(0);
        let b = body(msg);
        let parsed = match tag {
            b'Q' => cstr(b).map(|(q, _)| Frontend::Query(q)),
            b'P' => cstr(b).and_then(|(statement, rest)| {
                cstr(rest).map(|(query, _)| Frontend::Parse { statement, query })
            }),
            b'B' => cstr(b).and_then(|(portal, rest)| {
                cstr(rest).map(|(statement, _)| Frontend::Bind { portal, statement })
            }),
            b'E' => cstr(b).map(|(portal, _)| Frontend::Execute { portal }),
            b'S' => Some(Frontend::Sync),
            b'd' | b'c' | b'f' => Some(Frontend::Copy),
            b'F' => Some(Frontend::FunctionCall),
            b'X' => Some(Frontend::Terminate),
            _ => None,
        };
        parsed.unwrap_or(Frontend::Other(tag))
    }
}

/// Reads the fields of an ErrorResponse or NoticeResponse body.
fn server_message(b: &[u8]) -> ServerMessage {
    let mut m = ServerMessage::default();
    let mut rest = b;
    while let Some((&code, tail)) = rest.split_first() {
        if code == 0 {
            break;
        }
        let Some((text, after)) = cstr(tail) else {
            break;
        };
        match code {
            b'C' => m.sqlstate = text,
            b'V' => m.severity = text,
            b'S' if m.severity.is_empty() => m.severity = text,
            b'M' => m.message = text,
            b'D' => m.detail = Some(text),
            _ => {}
        }
        rest = after;
    }
    m
}

/// The columns of a DataRow in text format (`None` for NULL); read only where the
/// bridge needs a row (its own queries), never for the client's results.
pub fn data_row(msg: &[u8]) -> Option<Vec<Option<String>>> {
    if msg.first() != Some(&b'D') {
        return None;
    }
    let b = body(msg);
    let count = u16::from_be_bytes([*b.first()?, *b.get(1)?]) as usize;
    let mut rest = &b[2..];
    let mut cols = Vec::with_capacity(count);
    for _ in 0..count {
        let len = i32::from_be_bytes(rest.get(..4)?.try_into().ok()?);
        rest = &rest[4..];
        if len < 0 {
            cols.push(None);
            continue;
        }
        let len = len as usize;
        cols.push(Some(String::from_utf8_lossy(rest.get(..len)?).into_owned()));
        rest = &rest[len..];
    }
    Some(cols)
}

impl Backend {
    pub fn parse(msg: &[u8]) -> Backend {
        let tag = msg.first().copied().unwrap_or(0);
        let b = body(msg);
        match tag {
            b'C' => cstr(b)
                .map(|(t, _)| Backend::CommandComplete(t))
                .unwrap_or(Backend::Other(tag)),
            b'I' => Backend::EmptyQuery,
            b's' => Backend::PortalSuspended,
            b'Z' if !b.is_empty() => Backend::ReadyForQuery(b[0]),
            b'E' => Backend::Error(server_message(b)),
            b'N' => Backend::Notice(server_message(b)),
            b'K' if b.len() >= 4 => Backend::BackendKeyData {
                pid: i32::from_be_bytes([b[0], b[1], b[2], b[3]]),
            },
            _ => Backend::Other(tag),
        }
    }
}

/// The row count a command tag reports (`UPDATE 12`, `INSERT 0 5`, `SELECT 3`).
pub fn tag_rows(tag: &str) -> Option<i64> {
    let mut words = tag.split(' ');
    let first = words.next()?;
    if !matches!(
        first,
        "INSERT" | "UPDATE" | "DELETE" | "SELECT" | "MERGE" | "COPY" | "FETCH" | "MOVE"
    ) {
        return None;
    }
    tag.rsplit(' ').next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::super::message;
    use super::*;

    #[test]
    fn data_rows_are_read_with_nulls_and_truncation_refused() {
        let mut body = vec![0, 3];
        body.extend(5i32.to_be_bytes());
        body.extend(b"16390");
        body.extend((-1i32).to_be_bytes());
        body.extend(1i32.to_be_bytes());
        body.extend(b"0");
        let row = data_row(&message(b'D', &body)).unwrap();
        assert_eq!(row, [Some("16390".into()), None, Some("0".into())]);
        assert_eq!(data_row(&message(b'D', &body[..body.len() - 1])), None);
        assert_eq!(data_row(&message(b'C', b"SELECT 1\0")), None);
    }

    #[test]
    fn frontend_messages_are_read() {
        assert_eq!(
            Frontend::parse(&message(b'Q', b"SELECT 1\0")),
            Frontend::Query("SELECT 1".into())
        );
        assert_eq!(
            Frontend::parse(&message(b'P', b"s1\0UPDATE t SET a = $1\0\0\0")),
            Frontend::Parse {
                statement: "s1".into(),
                query: "UPDATE t SET a = $1".into()
            }
        );
        assert_eq!(
            Frontend::parse(&message(b'B', b"\0s1\0\0\0\0\0\0\0")),
            Frontend::Bind {
                portal: "".into(),
                statement: "s1".into()
            }
        );
        assert_eq!(Frontend::parse(&message(b'S', b"")), Frontend::Sync);
        assert_eq!(Frontend::parse(&message(b'd', b"1\t2\n")), Frontend::Copy);
    }

    #[test]
    fn backend_messages_are_read() {
        assert_eq!(
            Backend::parse(&message(b'C', b"UPDATE 12\0")),
            Backend::CommandComplete("UPDATE 12".into())
        );
        assert_eq!(
            Backend::parse(&message(b'Z', b"T")),
            Backend::ReadyForQuery(b'T')
        );
        let e = Backend::parse(&message(
            b'E',
            b"SERROR\0VERROR\0C23505\0Mdup\0DKey (x)=(1)\0\0",
        ));
        let Backend::Error(e) = e else { panic!() };
        assert_eq!(e.sqlstate, "23505");
        assert_eq!(e.severity, "ERROR");
        assert_eq!(e.detail.as_deref(), Some("Key (x)=(1)"));
        assert_eq!(
            Backend::parse(&message(b'K', &[0, 0, 0x30, 0x39, 1, 2, 3, 4])),
            Backend::BackendKeyData { pid: 12345 }
        );
    }

    #[test]
    fn rows_come_from_the_command_tag() {
        assert_eq!(tag_rows("INSERT 0 5"), Some(5));
        assert_eq!(tag_rows("UPDATE 12"), Some(12));
        assert_eq!(tag_rows("CREATE INDEX"), None);
        assert_eq!(tag_rows("ALTER TABLE"), None);
    }
}
