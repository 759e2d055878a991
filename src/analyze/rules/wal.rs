//! PF-W01: the migration wrote more WAL than `findings.wal_bytes`, or enough to put
//! replicas replaying `findings.replication_bytes_per_second` more than
//! `findings.replica_lag_s` behind.

use super::super::{finding, Evidence, Finding, Input};
use crate::model::RuleId;

pub fn check(input: &Input<'_>) -> Vec<Finding> {
    let t = input.thresholds;
    let lag = t.replica_lag_s(input.wal_bytes);
    if input.wal_bytes as f64 <= t.wal_bytes && lag <= t.replica_lag_s {
        return Vec::new();
    }
    vec![finding(RuleId::W01, "migration", None)
        .with(Evidence::new("WAL written", input.wal_bytes as f64, "bytes").against(t.wal_bytes))
        .with(Evidence::new("replicas behind", lag, "s").against(t.replica_lag_s))]
}
