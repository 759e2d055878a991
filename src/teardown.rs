//! Cleanup that always happens: every resource (clone, bridge, box, directory) is
//! registered here the moment it exists, and [`Teardown::run`] removes them in reverse
//! order, each under its own timeout, on success, failure and cancellation alike. A
//! failed step is logged and the rest still run.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

/// Why a cleanup step failed: the undoing resource's own error, its causes kept.
pub type StepError = Box<dyn std::error::Error + Send + Sync>;

type Step = Box<dyn FnOnce() -> Pin<Box<dyn Future<Output = Result<(), StepError>> + Send>> + Send>;

#[derive(Default)]
pub struct Teardown {
    steps: Vec<(String, Step)>,
}

impl Teardown {
    /// Registers `step` to undo `what`.
    pub fn push<F, Fut, E>(&mut self, what: impl Into<String>, step: F)
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: Into<StepError> + 'static,
    {
        self.steps.push((
            what.into(),
            Box::new(move || Box::pin(async move { step().await.map_err(Into::into) })),
        ));
    }

    /// Runs every step, newest first; returns the ones that failed.
    pub async fn run(mut self, per_step: Duration) -> Vec<String> {
        let mut failures = Vec::new();
        while let Some((what, step)) = self.steps.pop() {
            match tokio::time::timeout(per_step, step()).await {
                Ok(Ok(())) => tracing::debug!("cleaned up {what}"),
                Ok(Err(e)) => failures.push(format!("{what}: {}", crate::error_chain(&*e))),
                Err(_) => failures.push(format!("{what}: no answer within {per_step:?}")),
            }
        }
        for f in &failures {
            tracing::warn!("cleanup failed: {f}");
        }
        failures
    }
}

impl Drop for Teardown {
    fn drop(&mut self) {
        if !self.steps.is_empty() {
            tracing::error!(
                "{} resources were never cleaned up: {}",
                self.steps.len(),
                self.steps
                    .iter()
                    .map(|(w, _)| w.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[tokio::test]
    async fn runs_newest_first_and_survives_failures() {
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut t = Teardown::default();
        for i in 0..3 {
            let o = order.clone();
            t.push(format!("step {i}"), move || async move {
                o.lock().unwrap().push(i);
                if i == 1 {
                    Err(std::io::Error::other("boom"))
                } else {
                    Ok(())
                }
            });
        }
        t.push("slow", || async {
            tokio::time::sleep(Duration::from_secs(5)).await;
            Ok::<_, std::convert::Infallible>(())
        });
        let failures = t.run(Duration::from_millis(50)).await;
        assert_eq!(*order.lock().unwrap(), vec![2, 1, 0]);
        assert_eq!(failures.len(), 2, "{failures:?}");
    }
}
