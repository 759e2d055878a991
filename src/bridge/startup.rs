//! The bridge's side of connection startup: answer the box client's startup packet
//! (declining SSL and GSS encryption, which a local socket does not need), then log in
//! to the clone with the real credentials. The client's own user, database and
//! `replication` settings are ignored; the rest of its parameters are passed on, then
//! the trusted session settings (which replace a client's setting of the same name).

use super::error::SessionError;
use super::Upstream;
use bytes::{Buf, BytesMut};
use postgres_protocol::authentication::sasl::{ChannelBinding, ScramSha256};
use postgres_protocol::message::{backend, frontend};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

const SSL_REQUEST: i32 = 80877103;
const GSSENC_REQUEST: i32 = 80877104;
const CANCEL_REQUEST: i32 = 80877102;
const PROTOCOL_3: i32 = 196608;

/// What the box client asked for.
pub enum ClientStart {
    /// A normal session with these startup parameters.
    Session(Vec<(String, String)>),
    /// A cancel request, passed on verbatim (it carries the backend's key).
    Cancel(Vec<u8>),
}

pub async fn read_client_start<S: AsyncRead + AsyncWrite + Unpin>(
    client: &mut S,
) -> Result<ClientStart, SessionError> {
    loop {
        let len = client
            .read_i32()
            .await
            .map_err(SessionError::io("reading startup"))?;
        if !(8..=10_000).contains(&len) {
            return Err(SessionError::StartupSize(len));
        }
        let mut body = vec![0u8; len as usize - 4];
        client
            .read_exact(&mut body)
            .await
            .map_err(SessionError::io("reading startup"))?;
        let code = i32::from_be_bytes([body[0], body[1], body[2], body[3]]);
        match code {
            SSL_REQUEST | GSSENC_REQUEST => {
                client.write_all(b"N").await.map_err(SessionError::io(
                    "answering the client's encryption request",
                ))?;
            }
            CANCEL_REQUEST => {
                let mut packet = len.to_be_bytes().to_vec();
                packet.extend_from_slice(&body);
                return Ok(ClientStart::Cancel(packet));
            }
            PROTOCOL_3 => {
                let fields: Vec<String> = body[4..]
                    .split(|b| *b == 0)
                    .map(|s| String::from_utf8_lossy(s).into_owned())
                    .collect();
                let params = fields
                    .chunks(2)
                    .filter(|kv| kv.len() == 2 && !kv[0].is_empty())
                    .map(|kv| (kv[0].clone(), kv[1].clone()))
                    .filter(|(k, _)| !matches!(k.as_str(), "user" | "database" | "replication"))
                    .collect();
                return Ok(ClientStart::Session(params));
            }
            other => return Err(SessionError::StartupCode(other)),
        }
    }
}

/// Reads one whole backend message (type byte, length, body) from `buf`'s front, cut
/// by the session's own [`Framer`](crate::pgwire::Framer), and returns its bytes. Login
/// messages are small; one that claims more than [`crate::pgwire::INSPECT_LIMIT`] is
/// refused before anything is buffered for it (a server a superuser migration
/// reconfigured must not make the job allocate gigabytes).
pub async fn read_message<S: AsyncRead + Unpin>(
    server: &mut S,
    buf: &mut BytesMut,
) -> Result<BytesMut, SessionError> {
    let mut framer = crate::pgwire::Framer::default();
    loop {
        match framer.next(buf) {
            Some(crate::pgwire::Piece::Whole(msg)) => return Ok(msg),
            Some(_) => return Err(SessionError::LoginTooLarge(crate::pgwire::INSPECT_LIMIT)),
            None => {}
        }
        let n = server
            .read_buf(buf)
            .await
            .map_err(SessionError::io("reading from the clone"))?;
        if n == 0 {
            return Err(SessionError::ClosedDuringLogin);
        }
    }
}

/// Logs in to the clone. On success the server's next bytes are the session's
/// parameter status messages. On a server error the raw error message is returned so it
/// can be passed to the client.
pub async fn login<S: AsyncRead + AsyncWrite + Unpin>(
    server: &mut S,
    up: &Upstream,
    params: &[(String, String)],
    buf: &mut BytesMut,
) -> Result<(), LoginFailure> {
    let mut out = BytesMut::new();
    let mut all: Vec<(&str, &str)> = vec![("user", &up.user), ("database", &up.database)];
    let trusted = |name: &str| up.session.iter().any(|(k, _)| k.eq_ignore_ascii_case(name));
    all.extend(
        params
            .iter()
            .filter(|(k, _)| !trusted(k))
            .map(|(k, v)| (k.as_str(), v.as_str())),
    );
    all.extend(up.session.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    frontend::startup_message(all, &mut out).map_err(protocol("writing the startup message"))?;
    send(server, &mut out).await?;

    let password = up.password.expose().as_bytes();
    let mut scram: Option<ScramSha256> = None;
    loop {
        let raw = read_message(server, buf).await?;
        let mut parse_buf = raw.clone();
        let msg = backend::Message::parse(&mut parse_buf)
            .map_err(protocol("parsing the clone's login message"))?
            .ok_or(SessionError::Incomplete)?;
        match msg {
            backend::Message::AuthenticationOk => return Ok(()),
            backend::Message::AuthenticationCleartextPassword => {
                frontend::password_message(password, &mut out)
                    .map_err(protocol("writing the password"))?;
            }
            backend::Message::AuthenticationMd5Password(body) => {
                let hash = postgres_protocol::authentication::md5_hash(
                    up.user.as_bytes(),
                    password,
                    body.salt(),
                );
                frontend::password_message(hash.as_bytes(), &mut out)
                    .map_err(protocol("writing the password"))?;
            }
            backend::Message::AuthenticationSasl(body) => {
                let mut mechanisms = body.mechanisms();
                let mut has_scram = false;
                while let Ok(Some(m)) = fallible_iterator::FallibleIterator::next(&mut mechanisms) {
                    has_scram |= m == "SCRAM-SHA-256";
                }
                if !has_scram {
                    return Err(SessionError::NoScram.into());
                }
                let s = ScramSha256::new(password, ChannelBinding::unsupported());
                frontend::sasl_initial_response("SCRAM-SHA-256", s.message(), &mut out)
                    .map_err(protocol("writing the SASL response"))?;
                scram = Some(s);
            }
            backend::Message::AuthenticationSaslContinue(body) => {
                let s = scram.as_mut().ok_or(SessionError::SaslOutOfOrder)?;
                s.update(body.data())
                    .map_err(protocol("checking the clone's SASL answer"))?;
                frontend::sasl_response(s.message(), &mut out)
                    .map_err(protocol("writing the SASL response"))?;
            }
            backend::Message::AuthenticationSaslFinal(body) => {
                let s = scram.as_mut().ok_or(SessionError::SaslOutOfOrder)?;
                s.finish(body.data())
                    .map_err(protocol("checking the clone's SASL signature"))?;
                continue;
            }
            backend::Message::ErrorResponse(_) => return Err(LoginFailure::Refused(raw)),
            _ => continue,
        }
        send(server, &mut out).await?;
    }
}

async fn send<S: AsyncWrite + Unpin>(
    server: &mut S,
    out: &mut BytesMut,
) -> Result<(), LoginFailure> {
    server
        .write_all(out)
        .await
        .map_err(protocol("writing to the clone"))?;
    out.advance(out.len());
    Ok(())
}

pub enum LoginFailure {
    Broken(SessionError),
    /// The server's raw ErrorResponse.
    Refused(BytesMut),
}

impl From<SessionError> for LoginFailure {
    fn from(e: SessionError) -> Self {
        LoginFailure::Broken(e)
    }
}

/// An I/O or protocol error of the login, said of what it was `doing`.
fn protocol(doing: &'static str) -> impl FnOnce(std::io::Error) -> LoginFailure {
    move |source| LoginFailure::Broken(SessionError::Io { doing, source })
}

#[cfg(test)]
mod read_message_tests {
    use super::*;

    #[tokio::test]
    async fn a_login_message_claiming_gigabytes_is_refused_at_once() {
        let mut claim = vec![b'S'];
        claim.extend(0x7fff_fff0u32.to_be_bytes());
        let mut server = std::io::Cursor::new(claim);
        let mut buf = BytesMut::new();
        let e = read_message(&mut server, &mut buf).await.unwrap_err();
        assert!(matches!(e, SessionError::LoginTooLarge(_)), "{e}");
        let mut whole = std::io::Cursor::new(vec![b'Z', 0, 0, 0, 5, b'I']);
        let mut buf = BytesMut::new();
        assert_eq!(
            &read_message(&mut whole, &mut buf).await.unwrap()[..],
            b"Z\0\0\0\x05I"
        );
    }
}
