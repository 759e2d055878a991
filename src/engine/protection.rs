//! How long a protection lasts, as DLE computes it (`CalculateProtectionTime`): a
//! request without a duration takes the engine's lease (`protection_lease_minutes`), 0
//! means until removed, and `protection_max_minutes` caps both. Clones, snapshots and
//! branches share it.

use super::Engine;
use chrono::Utc;

impl Engine {
    /// When a protection asked for now lapses, as DLE computes it: no duration takes the
    /// lease, 0 is until removed (unless capped), and nothing lasts past the cap.
    pub fn protection_till(
        &self,
        minutes: Option<u64>,
        now: chrono::DateTime<Utc>,
    ) -> Option<chrono::DateTime<Utc>> {
        let cfg = &self.inner.cfg;
        protection_till(
            minutes,
            cfg.protection_lease_minutes,
            cfg.protection_max_minutes,
            now,
        )
    }
}

const MAX_PROTECTION_MINUTES: u64 = 100 * 366 * 24 * 60;

fn protection_till(
    minutes: Option<u64>,
    lease: u64,
    cap: u64,
    now: chrono::DateTime<Utc>,
) -> Option<chrono::DateTime<Utc>> {
    let mut minutes = minutes.unwrap_or(lease);
    if minutes == 0 {
        if cap == 0 {
            return None;
        }
        minutes = cap;
    }
    if cap > 0 {
        minutes = minutes.min(cap);
    }
    // A century is forever enough, and any larger number still fits a date.
    Some(now + chrono::Duration::minutes(minutes.min(MAX_PROTECTION_MINUTES) as i64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protection_lapses_as_dle_computes_it() {
        let now = Utc::now();
        let m = |n| Some(now + chrono::Duration::minutes(n));
        assert_eq!(protection_till(None, 1440, 0, now), m(1440));
        assert_eq!(protection_till(Some(30), 1440, 0, now), m(30));
        assert_eq!(protection_till(Some(0), 1440, 0, now), None);
        assert_eq!(protection_till(Some(0), 1440, 60, now), m(60));
        assert_eq!(protection_till(Some(600), 1440, 60, now), m(60));
        assert_eq!(protection_till(None, 0, 0, now), None);
        // Found by schemathesis: a huge duration once overflowed the date and panicked.
        assert_eq!(
            protection_till(Some(u64::MAX), 0, 0, now),
            m(MAX_PROTECTION_MINUTES as i64)
        );
    }
}
