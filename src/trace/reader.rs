//! The boundary read: the tracer's own connection reads `pg_locks` for a box session
//! while the bridge holds that session between two statements of a transaction.

use super::HeldLock;
use crate::observe::lock_mode::LockMode;

/// The locks a backend holds on the database's own relations, with their file nodes
/// (a relation created in the session's open transaction has none visible here).
pub const SESSION_LOCKS: &str = "SELECT l.relation::int8, l.mode, c.relfilenode::int8 \
     FROM pg_locks l LEFT JOIN pg_class c ON c.oid = l.relation \
     WHERE l.pid = $1 AND l.locktype = 'relation' AND l.granted AND l.relation::int8 >= 16384 \
       AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())";

/// Reads a session's locks at a statement boundary.
#[async_trait::async_trait]
pub trait LockReader: Send + Sync {
    async fn locks(&self, pid: i32) -> Vec<HeldLock>;
}

/// Reads on a connection of its own (tagged `preflight-tracer`).
pub struct PgLockReader {
    client: tokio_postgres::Client,
    statement: tokio_postgres::Statement,
}

impl PgLockReader {
    pub async fn new(client: tokio_postgres::Client) -> Result<Self, tokio_postgres::Error> {
        let statement = client.prepare(SESSION_LOCKS).await?;
        Ok(PgLockReader { client, statement })
    }
}

#[async_trait::async_trait]
impl LockReader for PgLockReader {
    async fn locks(&self, pid: i32) -> Vec<HeldLock> {
        match self.client.query(&self.statement, &[&pid]).await {
            Ok(rows) => rows
                .iter()
                .filter_map(|r| {
                    Some(HeldLock {
                        oid: r.get(0),
                        mode: LockMode::from_pg(r.get(1))?,
                        relfilenode: r.get(2),
                    })
                })
                .collect(),
            Err(e) => {
                tracing::warn!("tracer: reading the session's locks failed: {e}");
                Vec::new()
            }
        }
    }
}
