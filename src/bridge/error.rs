//! Why one bridged session ended badly: the box client's startup, the login to the
//! clone, or the relaying between them. Each is recorded among the bridge's failures;
//! none stops the bridge or the other sessions.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum SessionError {
    #[error("{doing}")]
    Io {
        doing: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("startup packet of {0} bytes")]
    StartupSize(i32),
    #[error("unsupported startup code {0}")]
    StartupCode(i32),
    #[error("connecting to the clone at {addr}")]
    Connect {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the clone sent a login message over {0} bytes; login messages are small")]
    LoginTooLarge(usize),
    #[error("the clone closed the connection during login")]
    ClosedDuringLogin,
    #[error("the clone sent an incomplete login message")]
    Incomplete,
    #[error("the clone offers no SCRAM-SHA-256 login")]
    NoScram,
    #[error("the clone's SASL login came out of order")]
    SaslOutOfOrder,
    #[error("the clone refused the bridge's login")]
    LoginRefused,
}

impl SessionError {
    /// An I/O error, said of what the session was `doing`.
    pub fn io(doing: &'static str) -> impl FnOnce(std::io::Error) -> SessionError {
        move |source| SessionError::Io { doing, source }
    }
}
