//! Prometheus metrics at `/metrics`: clones by status, clone-ready seconds as a
//! histogram, snapshots, and the pool's bytes used and free (read at each scrape).

use super::state::State;
use super::storage::capacity;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::path::Path;

type Labels = Vec<(String, String)>;

pub struct Metrics {
    registry: Registry,
    clones: Family<Labels, Gauge>,
    snapshots: Gauge,
    ready: Histogram,
    pool_used: Gauge,
    pool_free: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::default();
        let clones = Family::<Labels, Gauge>::default();
        let snapshots = Gauge::default();
        let ready = Histogram::new(
            [
                0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0,
            ]
            .into_iter(),
        );
        let pool_used = Gauge::default();
        let pool_free = Gauge::default();
        registry.register(
            "preflight_engine_clones",
            "Clones by status",
            clones.clone(),
        );
        registry.register(
            "preflight_engine_snapshots",
            "Snapshots kept",
            snapshots.clone(),
        );
        registry.register(
            "preflight_engine_clone_ready_seconds",
            "Seconds from a create or reset request to a clone accepting connections",
            ready.clone(),
        );
        registry.register(
            "preflight_engine_pool_used_bytes",
            "Bytes used on the pool's filesystem",
            pool_used.clone(),
        );
        registry.register(
            "preflight_engine_pool_free_bytes",
            "Bytes free on the pool's filesystem",
            pool_free.clone(),
        );
        Metrics {
            registry,
            clones,
            snapshots,
            ready,
            pool_used,
            pool_free,
        }
    }

    pub fn observe_ready(&self, seconds: f64) {
        self.ready.observe(seconds);
    }

    /// The exposition text, with gauges read from the state and the pool now.
    pub fn render(&self, state: &State, pool: &Path) -> String {
        for code in ["CREATING", "OK", "RESETTING", "DELETING", "FATAL"] {
            let n = state
                .clones
                .values()
                .filter(|c| c.status.code.as_str() == code)
                .count();
            self.clones
                .get_or_create(&vec![("status".to_string(), code.to_string())])
                .set(n as i64);
        }
        self.snapshots.set(state.snapshots.len() as i64);
        let (size, free) = capacity(pool);
        self.pool_used.set(size.saturating_sub(free) as i64);
        self.pool_free.set(free as i64);
        let mut text = String::new();
        encode(&mut text, &self.registry).expect("writing to a String cannot fail");
        text
    }
}
