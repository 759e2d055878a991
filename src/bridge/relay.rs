//! One box session through the bridge: startup and login ([`super::startup`]), then
//! bytes relayed both ways. The server-to-box direction is read message by message, so
//! the bridge sees each `BackendKeyData` (the backend's process id) and `ErrorResponse`
//! (its SQLSTATE) without buffering anything else.

use super::startup::{login, read_client_start, ClientStart, LoginFailure};
use super::{BridgeLog, ServerError, Upstream};
use bytes::{Buf, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpStream, UnixStream};

/// Messages larger than this are passed through without being inspected.
const INSPECT_LIMIT: usize = 1 << 20;

pub async fn session(mut client: UnixStream, up: &Upstream, log: &BridgeLog) -> Result<(), String> {
    let start = read_client_start(&mut client).await?;
    let mut server = TcpStream::connect((up.host.as_str(), up.port))
        .await
        .map_err(|e| format!("connecting to the clone at {}:{}: {e}", up.host, up.port))?;
    let params = match start {
        ClientStart::Cancel(packet) => {
            server.write_all(&packet).await.map_err(|e| e.to_string())?;
            return Ok(());
        }
        ClientStart::Session(params) => params,
    };
    let mut buf = BytesMut::with_capacity(8192);
    match login(&mut server, up, &params, &mut buf).await {
        Ok(()) => {}
        Err(LoginFailure::Refused(raw)) => {
            if let Some(e) = parse_error(&raw) {
                log.error(e);
            }
            let _ = client.write_all(&raw).await;
            return Err("the clone refused the bridge's login".into());
        }
        Err(LoginFailure::Io(e)) => return Err(e),
    }
    // AuthenticationOk: the client never had to authenticate.
    client
        .write_all(&[b'R', 0, 0, 0, 8, 0, 0, 0, 0])
        .await
        .map_err(|e| e.to_string())?;

    let (mut client_rd, mut client_wr) = client.into_split();
    let (mut server_rd, mut server_wr) = server.into_split();
    let mut pid = None;
    let upward = async {
        let _ = tokio::io::copy(&mut client_rd, &mut server_wr).await;
        let _ = server_wr.shutdown().await;
    };
    let downward = relay_down(&mut server_rd, &mut client_wr, buf, log, &mut pid);
    tokio::select! {
        _ = upward => {},
        _ = downward => {},
    }
    log.session_ended(pid);
    Ok(())
}

/// Copies server messages to the client, inspecting `K` and `E` messages.
async fn relay_down<R: AsyncRead + Unpin, W: AsyncWrite + Unpin>(
    server: &mut R,
    client: &mut W,
    mut buf: BytesMut,
    log: &BridgeLog,
    pid: &mut Option<i32>,
) -> std::io::Result<()> {
    let mut pass_through = 0usize;
    loop {
        if buf.is_empty() || (pass_through == 0 && needs_more(&buf)) {
            if server.read_buf(&mut buf).await? == 0 {
                return Ok(());
            }
            continue;
        }
        if pass_through > 0 {
            let n = pass_through.min(buf.len());
            client.write_all(&buf[..n]).await?;
            buf.advance(n);
            pass_through -= n;
            continue;
        }
        let kind = buf[0];
        let total = 1 + u32::from_be_bytes([buf[1], buf[2], buf[3], buf[4]]) as usize;
        let inspect = matches!(kind, b'E' | b'K') && total <= INSPECT_LIMIT;
        if inspect {
            let msg = buf.split_to(total);
            match kind {
                b'K' if total >= 9 => {
                    let p = i32::from_be_bytes([msg[5], msg[6], msg[7], msg[8]]);
                    *pid = Some(p);
                    log.session_started(p);
                }
                b'E' => {
                    if let Some(e) = parse_error(&msg) {
                        log.error(e);
                    }
                }
                _ => {}
            }
            client.write_all(&msg).await?;
        } else {
            pass_through = total;
        }
    }
}

/// True when `buf` does not yet hold the next message's header, or holds an
/// inspectable message that is not complete.
fn needs_more(buf: &BytesMut) -> bool {
    if buf.len() < 5 {
        return true;
    }
    let total = 1 + u32::from_be_bytes([buf[1], buf[2], buf[3], buf[4]]) as usize;
    matches!(buf[0], b'E' | b'K') && total <= INSPECT_LIMIT && buf.len() < total
}

/// Fields of an ErrorResponse: (code byte, text)* then a zero byte.
fn parse_error(msg: &[u8]) -> Option<ServerError> {
    let body = msg.get(5..)?;
    let mut e = ServerError {
        sqlstate: String::new(),
        severity: String::new(),
        message: String::new(),
        detail: None,
    };
    let mut rest = body;
    while let Some((&code, tail)) = rest.split_first() {
        if code == 0 {
            break;
        }
        let end = tail.iter().position(|b| *b == 0)?;
        let text = String::from_utf8_lossy(&tail[..end]).into_owned();
        match code {
            b'C' => e.sqlstate = text,
            b'V' => e.severity = text,
            b'S' if e.severity.is_empty() => e.severity = text,
            b'M' => e.message = text,
            b'D' => e.detail = Some(text),
            _ => {}
        }
        rest = &tail[end + 1..];
    }
    (!e.sqlstate.is_empty()).then_some(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error_message(fields: &[(u8, &str)]) -> Vec<u8> {
        let mut body = Vec::new();
        for (c, t) in fields {
            body.push(*c);
            body.extend_from_slice(t.as_bytes());
            body.push(0);
        }
        body.push(0);
        let mut msg = vec![b'E'];
        msg.extend_from_slice(&((body.len() + 4) as u32).to_be_bytes());
        msg.extend_from_slice(&body);
        msg
    }

    #[test]
    fn error_fields_are_read() {
        let m = error_message(&[
            (b'S', "ERROR"),
            (b'V', "ERROR"),
            (b'C', "23505"),
            (b'M', "dup"),
            (b'D', "Key (x)=(1)"),
        ]);
        let e = parse_error(&m).unwrap();
        assert_eq!(e.sqlstate, "23505");
        assert_eq!(e.severity, "ERROR");
        assert_eq!(e.detail.as_deref(), Some("Key (x)=(1)"));
    }

    #[tokio::test]
    async fn relay_sees_pid_and_errors_split_across_reads_and_passes_all_bytes() {
        let mut stream = vec![b'K', 0, 0, 0, 12, 0, 0, 0x30, 0x39, 1, 2, 3, 4];
        stream.extend(error_message(&[(b'C', "42P01"), (b'M', "no table")]));
        let big = vec![7u8; 3 << 20];
        stream.push(b'D');
        stream.extend_from_slice(&((big.len() + 4) as u32).to_be_bytes());
        stream.extend_from_slice(&big);
        stream.extend_from_slice(&[b'Z', 0, 0, 0, 5, b'I']);

        let (mut tx, mut rx) = tokio::io::duplex(7);
        let input = stream.clone();
        let writer = tokio::spawn(async move {
            tx.write_all(&input).await.unwrap();
        });
        let mut out = Vec::new();
        let log = BridgeLog::default();
        let mut pid = None;
        relay_down(&mut rx, &mut out, BytesMut::new(), &log, &mut pid)
            .await
            .unwrap();
        writer.await.unwrap();
        assert_eq!(out, stream);
        assert_eq!(pid, Some(12345));
        assert_eq!(log.live_pids(), vec![12345]);
        assert_eq!(log.take().errors[0].sqlstate, "42P01");
    }
}
