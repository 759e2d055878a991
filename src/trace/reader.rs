//! The boundary read: the tracer's own connection reads `pg_locks` for a box session
//! while the bridge holds that session between two statements of a transaction. And
//! the in-session read ([`IN_SESSION_LOCKS`]) the bridge sends itself inside the
//! transaction it wraps an autocommit schema change in.

use super::HeldLock;
use crate::pg::lock_mode::LockMode;

/// The locks a backend holds on the database's own relations, with their file nodes
/// (a relation created in the session's open transaction has none visible here).
pub const SESSION_LOCKS: &str = "SELECT l.relation::int8, l.mode, c.relfilenode::int8 \
     FROM pg_locks l LEFT JOIN pg_class c ON c.oid = l.relation \
     WHERE l.pid = $1 AND l.locktype = 'relation' AND l.granted AND l.relation::int8 >= 16384 \
       AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())";

/// The same, read by the session itself, with `lock_timeout`. Every name is qualified
/// with `pg_catalog`, operators too, so a migration's `search_path` cannot put its own
/// objects in their place; it is planned each time, so it is kept simple (a file node
/// by function, no joins). No database filter is needed: the session's own relations.
pub const IN_SESSION_LOCKS: &str = "SELECT l.relation::pg_catalog.int8, l.mode,        pg_catalog.pg_relation_filenode(l.relation)::pg_catalog.int8,        pg_catalog.current_setting('lock_timeout')      FROM pg_catalog.pg_lock_status() l      WHERE l.pid OPERATOR(pg_catalog.=) pg_catalog.pg_backend_pid()        AND l.locktype OPERATOR(pg_catalog.=) 'relation' AND l.granted        AND l.relation::pg_catalog.int8 OPERATOR(pg_catalog.>=) 16384";

/// One row of [`IN_SESSION_LOCKS`]: the lock, and `lock_timeout`.
pub fn in_session_row(cols: &[Option<String>]) -> Option<(HeldLock, String)> {
    let [Some(oid), Some(mode), relfilenode, Some(lock_timeout)] = cols else {
        return None;
    };
    Some((
        HeldLock {
            oid: oid.parse().ok()?,
            mode: LockMode::from_pg(mode)?,
            relfilenode: relfilenode.as_deref().and_then(|n| n.parse().ok()),
        },
        lock_timeout.clone(),
    ))
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_in_session_row_is_a_lock_and_the_lock_timeout() {
        let row = |fnode: Option<&str>| {
            vec![
                Some("16390".to_string()),
                Some("AccessExclusiveLock".to_string()),
                fnode.map(str::to_string),
                Some("2s".to_string()),
            ]
        };
        let (lock, timeout) = in_session_row(&row(Some("16412"))).unwrap();
        assert_eq!(lock.oid, 16390);
        assert_eq!(lock.mode, LockMode::AccessExclusive);
        assert_eq!(lock.relfilenode, Some(16412));
        assert_eq!(timeout, "2s");
        assert_eq!(in_session_row(&row(None)).unwrap().0.relfilenode, None);
        assert_eq!(in_session_row(&row(Some("x"))).unwrap().0.relfilenode, None);
        assert!(in_session_row(&[None, None, None, None]).is_none());
        assert!(in_session_row(&row(Some("1"))[..3]).is_none());
    }
}
