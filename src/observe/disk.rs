//! The disk watchdog: a clone is a thin copy on a pool other MRs' clones share, so a
//! migration that writes without end would fill the pool under all of them. While a
//! migration runs, a connection of its own polls the database's size; past the limit
//! (`box.disk_limit_bytes` above the size before the migration) it terminates every
//! other session on the database but the observers' own (known by backend pid, not by
//! a name the migration could copy), and the migration is reported as `disk_limit`.
//! The highest size it read is the migration's peak (see [`peak_extra`]).
//! Temporary files do not count in the database size; the engine bounds them per
//! session with `temp_file_limit`, which only a superuser may change.

use super::{connect, err, queries, ObserveError};
use crate::bridge::Upstream;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

/// How often the size is read: a migration writing at 1 GB/s overshoots by at most this
/// much time's worth.
pub const POLL: Duration = Duration::from_millis(250);

pub struct DiskWatch {
    client: tokio_postgres::Client,
    /// The largest size read so far.
    peak: AtomicI64,
}

impl DiskWatch {
    pub async fn connect(up: &Upstream) -> Result<DiskWatch, ObserveError> {
        Ok(DiskWatch {
            client: connect(up, "preflight-disk-watch").await?,
            peak: AtomicI64::new(0),
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
                    self.peak.fetch_max(size, Ordering::Relaxed);
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

    /// The largest database size read while it watched (0 before the first read).
    pub fn peak(&self) -> i64 {
        self.peak.load(Ordering::Relaxed)
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

/// The most disk a migration needed beyond the size before it: the largest database
/// size the watch read, or the size after plus the old copies of the relations it
/// rewrote (both copies exist until the commit, however short the rewrite), whichever
/// is more; plus what it wrote to temporary files (sorts, hashes, index builds).
pub fn peak_extra(
    before: i64,
    watched_peak: i64,
    after: i64,
    rewritten_old: i64,
    temp_written: i64,
) -> i64 {
    let in_database = watched_peak.max(after.saturating_add(rewritten_old)) - before;
    in_database.max(0).saturating_add(temp_written.max(0))
}

#[cfg(test)]
mod tests {
    use super::peak_extra;

    #[test]
    fn a_rewrite_counts_both_copies_even_between_reads() {
        // 100 MB table rewritten into 100 MB: the watch never read the moment both existed.
        assert_eq!(peak_extra(1000, 1000, 1000, 100, 0), 100);
        // The watch saw more than the commit-time figure (a dropped temporary table).
        assert_eq!(peak_extra(1000, 1500, 1000, 0, 0), 500);
        // A database that shrank needed nothing extra but its temporary files.
        assert_eq!(peak_extra(1000, 0, 800, 0, 64), 64);
    }
}
