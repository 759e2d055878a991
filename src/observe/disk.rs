//! The disk watchdog: a clone is a thin copy on a pool other MRs' clones share, so a
//! migration that writes without end would fill the pool under all of them. While a
//! migration runs, a connection of its own polls the database's size; past the limit
//! (`box.disk_limit_bytes` above the size before the migration) it terminates every
//! other session on the database but the observers' own (known by backend pid, not by
//! a name the migration could copy), and the migration is reported as `disk_limit`.
//! Temporary files do not count in the database size; the engine bounds them per
//! session with `temp_file_limit`, which only a superuser may change.

use super::{connect, err, queries, ObserveError};
use crate::bridge::Upstream;
use std::time::Duration;

/// How often the size is read: a migration writing at 1 GB/s overshoots by at most this
/// much time's worth.
pub const POLL: Duration = Duration::from_millis(250);

pub struct DiskWatch {
    client: tokio_postgres::Client,
}

impl DiskWatch {
    pub async fn connect(up: &Upstream) -> Result<DiskWatch, ObserveError> {
        Ok(DiskWatch {
            client: connect(up, "preflight-disk-watch").await?,
        })
    }

    /// This connection's backend pid (spared by [`DiskWatch::stop_others`]).
    pub async fn pid(&self) -> Result<i32, ObserveError> {
        own_pid(&self.client).await
    }

    /// Returns the database size once it is over `limit` bytes (never, if it stays
    /// under; a failed read ends the watch quietly, since the rehearsal reports it).
    pub async fn exceeded(&self, limit: i64) -> i64 {
        loop {
            match self.client.query_one(queries::DATABASE_SIZE, &[]).await {
                Ok(row) => {
                    let size: i64 = row.get(0);
                    if size > limit {
                        return size;
                    }
                }
                Err(e) => {
                    tracing::warn!("disk watchdog: cannot read the database size: {e}");
                    std::future::pending::<()>().await;
                }
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Terminates every client session on the database but those in `spare`; answers
    /// how many were terminated.
    pub async fn stop_others(&self, spare: &[i32]) -> Result<i64, ObserveError> {
        Ok(self
            .client
            .query_one(queries::TERMINATE_OTHERS, &[&spare])
            .await
            .map_err(err("stop the migration at the disk limit"))?
            .get(0))
    }
}

/// The backend pid of `client`'s session.
pub async fn own_pid(client: &tokio_postgres::Client) -> Result<i32, ObserveError> {
    Ok(client
        .query_one(queries::BACKEND_PID, &[])
        .await
        .map_err(err("read the backend pid"))?
        .get(0))
}
