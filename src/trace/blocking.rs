//! How long the application could not read, and could not write, the tables that
//! existed before a migration: over time, the union of the locks that block each (one
//! table blocked is enough), so two locks held at once count once.

use crate::pg::lock_mode::LockMode;
use serde::Serialize;

/// Milliseconds during which some pre-existing table could not be read / written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Blocked {
    pub reads_ms: f64,
    pub writes_ms: f64,
}

impl Blocked {
    /// From locks on pre-existing tables, each as (mode, from ms, to ms).
    pub fn of(spans: impl IntoIterator<Item = (LockMode, f64, f64)>) -> Blocked {
        let (mut reads, mut writes) = (Vec::new(), Vec::new());
        for (mode, from, to) in spans {
            if mode.blocks_reads() {
                reads.push((from, to));
            }
            if mode.blocks_writes() {
                writes.push((from, to));
            }
        }
        Blocked {
            reads_ms: union_ms(reads),
            writes_ms: union_ms(writes),
        }
    }

    /// Two migrations' blocking, one after the other.
    pub fn then(self, other: Blocked) -> Blocked {
        Blocked {
            reads_ms: self.reads_ms + other.reads_ms,
            writes_ms: self.writes_ms + other.writes_ms,
        }
    }
}

/// The length of the union of intervals.
pub fn union_ms(intervals: Vec<(f64, f64)>) -> f64 {
    merged(intervals).iter().map(|(a, b)| b - a).sum()
}

/// The union of intervals, as disjoint intervals in order.
pub fn merged(mut intervals: Vec<(f64, f64)>) -> Vec<(f64, f64)> {
    intervals.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut out: Vec<(f64, f64)> = Vec::new();
    for (from, to) in intervals {
        let to = to.max(from);
        match out.last_mut() {
            Some((_, b)) if from <= *b => *b = b.max(to),
            _ => out.push((from, to)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use LockMode::*;

    #[test]
    fn overlapping_locks_count_once_and_weak_ones_not_at_all() {
        let b = Blocked::of([
            (AccessExclusive, 0.0, 10.0),
            (AccessExclusive, 5.0, 20.0),
            (Share, 30.0, 40.0),
            (RowExclusive, 0.0, 100.0),
            (AccessShare, 0.0, 100.0),
        ]);
        assert_eq!(b.reads_ms, 20.0);
        assert_eq!(b.writes_ms, 30.0);
        assert_eq!(b.then(b).writes_ms, 60.0);
        assert_eq!(Blocked::of([]), Blocked::default());
    }
}
