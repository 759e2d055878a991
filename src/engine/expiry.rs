//! Idle and lifetime limits. Every `expiry_check_every`, each ready clone is asked
//! whether anyone is connected (client sessions other than the engine's own probe); a
//! session marks it active. Clones idle longer than `max_idle`, or older than
//! `max_lifetime`, are deleted; protected clones are left alone until their protection
//! lapses (`protectedTill`). The same pass deletes the snapshots and branches whose
//! `deleteAt` has come, and deletes again each clone whose delete left something behind
//! (`FATAL` still holding its port), until nothing is left.

use super::state::{CloneRecord, StatusCode};
use super::Engine;
use chrono::Utc;
use std::time::Duration;

const SESSIONS: &str = "SELECT count(*) FROM pg_stat_activity \
    WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()";

impl Engine {
    /// One pass over the clones.
    pub async fn expire(&self) {
        let cfg = &self.inner.cfg;
        let clones = self
            .clones_where(|c| c.status.code == StatusCode::Ok && !c.is_protected(Utc::now()))
            .await;
        let now = Utc::now();
        for clone in clones {
            let Some(port) = clone.port else { continue };
            let server = self.clone_server(&clone.id, port);
            let sessions = async {
                let db = server.connect(port, "postgres").await.ok()?;
                db.query_one(SESSIONS, &[])
                    .await
                    .ok()
                    .map(|r| r.get::<_, i64>(0))
            };
            let active = matches!(
                tokio::time::timeout(Duration::from_secs(5), sessions).await,
                Ok(Some(n)) if n > 0
            );
            let last_active = if active {
                if let Some(c) = self.inner.state.lock().await.clones.get_mut(&clone.id) {
                    c.last_active = now;
                }
                now
            } else {
                clone.last_active
            };
            let idle = (now - last_active).to_std().unwrap_or_default();
            let age = (now - clone.created_at).to_std().unwrap_or_default();
            let reason = if age > cfg.max_lifetime {
                Some(format!("older than max_lifetime ({:?})", cfg.max_lifetime))
            } else if idle > cfg.max_idle {
                Some(format!("idle longer than max_idle ({:?})", cfg.max_idle))
            } else {
                None
            };
            if let Some(reason) = reason {
                tracing::info!(clone = %clone.id, %reason, "expiring a clone");
                let _ = self.delete_clone(&clone.id, false).await;
            }
        }
    }

    /// Deletes again the clones whose delete left a process or storage behind.
    pub async fn retry_leftovers(&self) {
        let stuck = self
            .clones_where(|c| c.status.code == StatusCode::Fatal && c.port.is_some())
            .await;
        for clone in stuck {
            tracing::info!(clone = %clone.id, "deleting again a clone whose delete left something behind");
            let _ = self.delete_clone(&clone.id, true).await;
        }
    }

    /// The clones `keep` picks, copied out of the state.
    async fn clones_where(&self, keep: impl Fn(&CloneRecord) -> bool) -> Vec<CloneRecord> {
        let state = self.inner.state.lock().await;
        state.clones.values().filter(|c| keep(c)).cloned().collect()
    }

    /// Runs [`Engine::expire`] forever at the configured interval.
    pub async fn expire_forever(self) {
        let mut tick = tokio::time::interval(self.inner.cfg.expiry_check_every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            self.expire().await;
            self.delete_due().await;
            self.retry_leftovers().await;
        }
    }
}
