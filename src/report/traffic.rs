//! The public view of the generated traffic during a migration
//! ([`crate::observe::traffic`]): counts and waits only, rounded to two significant
//! figures; the tables it went to stay in the full report.

use super::rounding::{count, duration_ms};
use crate::observe::traffic::TrafficReport;
use serde::Serialize;

/// The generated traffic during one migration, rounded to two significant figures.
#[derive(Debug, Clone, Serialize)]
pub struct PublicTraffic {
    pub rate: String,
    pub sent: String,
    pub waited: String,
    pub over_timeout: String,
    pub p50: String,
    pub p99: String,
    pub max: String,
}

/// The rounded view of one migration's traffic.
pub fn public(t: &TrafficReport) -> PublicTraffic {
    PublicTraffic {
        rate: count(i64::from(t.rate_per_second)),
        sent: count(t.sent as i64),
        waited: count(t.waited as i64),
        over_timeout: count(t.over_timeout as i64),
        p50: duration_ms(t.p50_ms),
        p99: duration_ms(t.p99_ms),
        max: duration_ms(t.max_ms),
    }
}
