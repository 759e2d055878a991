//! How long a database's and a migration's reports say the application could not read
//! or write a table that existed before: the union over time of the traced lock spans,
//! else of what the sampler saw ([`crate::trace::blocking`] does the arithmetic).

use crate::model::report::{DatabaseReport, MigrationReport};
use crate::trace::blocking::Blocked;

impl DatabaseReport {
    /// Its migrations' blocking, one after the other.
    pub fn blocked(&self) -> Blocked {
        self.migrations
            .iter()
            .fold(Blocked::default(), |b, m| b.then(m.blocked()))
    }
}

impl MigrationReport {
    /// How long it kept the application from reading / writing a table that existed
    /// before it: from the trace's lock spans, else from what the sampler saw.
    pub fn blocked(&self) -> Blocked {
        if self.trace.locks.is_empty() {
            Blocked::of(
                self.locks
                    .iter()
                    .filter(|l| l.preexisting)
                    .map(|l| (l.mode, l.first_seen_ms, l.first_seen_ms + l.held_ms)),
            )
        } else {
            Blocked::of(
                self.trace
                    .locks
                    .iter()
                    .filter(|l| l.preexisting)
                    .map(|l| (l.mode, l.acquired_ms, l.released_ms)),
            )
        }
    }
}
