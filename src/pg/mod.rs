//! What preflight knows of PostgreSQL, shared by every room above: table lock modes and
//! what each blocks ([`lock_mode`]), statements as the parser understands them
//! ([`statement`]), the catalog snapshot the findings compare ([`catalog`]), session
//! settings a migration changes ([`settings`]), cheap looks at SQL text before the
//! parser ([`lexical`]); and PostgreSQL servers and data, shared by the clone engine and
//! its snapshots: the majors this host can run ([`majors`]), running a server on a data
//! directory ([`server`]), filling a fresh one
//! from a source ([`load`], [`dataset`]), and handing a clone's data to the requester's
//! role ([`role`]).

pub mod catalog;
pub mod connstr;
pub mod dataset;
pub mod lexical;
pub mod load;
pub mod lock_mode;
pub mod majors;
pub mod migration_role;
pub mod netns;
pub mod role;
pub mod server;
pub mod settings;
pub mod statement;

use thiserror::Error;

/// Something PostgreSQL or one of its tools refused, with what we were doing.
#[derive(Debug, Error)]
#[error("failed to {action}: {reason}")]
pub struct PgError {
    pub action: String,
    pub reason: String,
}

impl PgError {
    pub fn new(action: impl Into<String>, reason: impl std::fmt::Display) -> Self {
        PgError {
            action: action.into(),
            reason: reason.to_string(),
        }
    }

    /// A database error with the server's message (tokio-postgres alone says "db error").
    pub fn pg(action: impl Into<String>, e: tokio_postgres::Error) -> Self {
        PgError::new(action, crate::error_chain(&e))
    }
}
