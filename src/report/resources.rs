//! What the migrations cost production besides their time, in the public view: the WAL
//! each wrote and how far behind it puts replicas replaying at the configured rate
//! (`findings.replication_bytes_per_second`), the most extra disk each needed; and for
//! the whole MR, the time its migrations take run one after the other, as the deploy
//! will run them, with the same figures summed. Numbers only, rounded to two
//! significant figures.

use super::rounding::{duration_s, size};
use crate::model::report::{DatabaseReport, MigrationOutcome, MigrationReport, RunReport};
use serde::Serialize;

/// One migration's WAL, replica lag and peak disk, rounded.
#[derive(Debug, Clone, Serialize)]
pub struct PublicResources {
    pub wal: String,
    /// How far behind the WAL puts the replicas ("" when under 0.1 s).
    pub replicas_behind: String,
    pub peak_disk: String,
}

/// The whole MR's migrations, one after the other.
#[derive(Debug, Clone, Serialize)]
pub struct PublicTotals {
    /// Their runtimes added up (the ways back left out: production runs only the ups).
    pub runtime: String,
    pub wal: String,
    pub replicas_behind: String,
    /// The most disk they needed at any moment beyond the size before the first.
    pub peak_disk: String,
    /// The replay rate the lag assumes, per second.
    pub replication_rate: String,
}

fn lag(wal_bytes: i64, rate: f64) -> String {
    let seconds = crate::config::sections::replica_lag_s(wal_bytes, rate);
    if seconds >= 0.1 {
        duration_s(seconds)
    } else {
        String::new()
    }
}

/// The rounded figures of one migration.
pub fn public(m: &MigrationReport, rate: f64) -> PublicResources {
    PublicResources {
        wal: size(m.wal_bytes.max(0) as u64),
        replicas_behind: lag(m.wal_bytes, rate),
        peak_disk: size(m.peak_extra_bytes.max(0) as u64),
    }
}

/// The most disk a database's migrations needed at any moment beyond its size before
/// them: each one's peak on top of what the ones before it left.
pub fn database_peak(d: &DatabaseReport) -> i64 {
    let mut grown = 0i64;
    let mut peak = 0i64;
    for m in d.migrations.iter().filter(|m| ran(m)) {
        peak = peak.max(grown.saturating_add(m.peak_extra_bytes));
        grown = grown.saturating_add(m.size_after - m.size_before);
    }
    peak.max(grown).max(0)
}

fn ran(m: &MigrationReport) -> bool {
    m.outcome != MigrationOutcome::Skipped
}

/// The whole MR's figures, when any migration ran.
pub fn totals(report: &RunReport) -> Option<PublicTotals> {
    let ran: Vec<&MigrationReport> = report
        .databases
        .iter()
        .flat_map(|d| &d.migrations)
        .filter(|m| ran(m))
        .collect();
    if ran.is_empty() {
        return None;
    }
    let wal: i64 = ran.iter().map(|m| m.wal_bytes.max(0)).sum();
    let rate = report.replication_bytes_per_second;
    Some(PublicTotals {
        runtime: duration_s(ran.iter().map(|m| m.wall_s).sum()),
        wal: size(wal as u64),
        replicas_behind: lag(wal, rate),
        peak_disk: size(report.databases.iter().map(database_peak).sum::<i64>() as u64),
        replication_rate: size(rate.max(0.0) as u64),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ran(wall_s: f64, grew: i64, peak: i64, wal: i64) -> MigrationReport {
        let mut m = MigrationReport::skipped("m".into(), "m.sql".into());
        m.outcome = MigrationOutcome::Succeeded;
        m.wall_s = wall_s;
        m.size_before = 1000;
        m.size_after = 1000 + grew;
        m.peak_extra_bytes = peak;
        m.wal_bytes = wal;
        m
    }

    #[test]
    fn a_later_peak_stands_on_what_the_earlier_migrations_left() {
        let mut d = DatabaseReport::named("main");
        d.migrations = vec![
            ran(1.0, 500, 600, 0),
            ran(1.0, -200, 300, 0),
            MigrationReport::skipped("s".into(), "s.sql".into()),
        ];
        // 600 during the first; 500 left + 300 during the second = 800.
        assert_eq!(database_peak(&d), 800);
    }

    #[test]
    fn replicas_fall_behind_by_the_wal_over_the_replay_rate() {
        let m = ran(1.0, 0, 0, 640 * 1024 * 1024);
        let p = public(&m, 64.0 * 1024.0 * 1024.0);
        assert_eq!(
            (p.wal.as_str(), p.replicas_behind.as_str()),
            ("640 MiB", "10 s")
        );
        assert_eq!(
            public(&ran(1.0, 0, 0, 1024), 64.0 * 1024.0 * 1024.0).replicas_behind,
            ""
        );
    }
}
