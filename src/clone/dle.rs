//! A client for the Database Lab clone API (see shared/reference/dle-api.md): create a
//! clone, poll until it is `OK` (fast at first, then backing off, within a deadline,
//! naming the engine's last status when it gives up), destroy it. Connection failures
//! and 429/5xx answers are retried with backoff. The verification token only travels in its header and never appears in
//! an error.

use super::{CloneEngine, CloneError, CloneInfo, CloneRequest};
use crate::dle_api;
use crate::secret::{mask, Secret};
use async_trait::async_trait;
use std::time::{Duration, Instant};
use url::Url;

pub struct DleEngine {
    base: Url,
    token: Secret,
    http: reqwest::Client,
}

impl DleEngine {
    /// A client of the engine at `base`, connecting directly.
    pub fn new(base: Url, token: Secret) -> Self {
        Self::through(base, token, None)
    }

    /// A client of the engine at `base`, through `proxy` when trusted configuration
    /// names one (`engine.proxy`). The environment's proxy variables are never read (a
    /// trigger variable could set them and receive the token and the clone's password),
    /// and no redirect is followed.
    pub fn through(mut base: Url, token: Secret, proxy: Option<&Url>) -> Self {
        // A base without a trailing slash would lose its last path segment on join
        // (`http://host/dle` + `clone` = `http://host/clone`).
        if !base.path().ends_with('/') {
            base.set_path(&format!("{}/", base.path()));
        }
        DleEngine {
            base,
            token,
            http: {
                let builder = reqwest::Client::builder()
                    .timeout(Duration::from_secs(30))
                    .no_proxy()
                    .redirect(reqwest::redirect::Policy::none());
                match proxy.and_then(|p| reqwest::Proxy::all(p.as_str()).ok()) {
                    Some(p) => builder.proxy(p),
                    None => builder,
                }
                .build()
                .expect("a TLS backend is compiled in")
            },
        }
    }

    fn url(&self, path: &str) -> Url {
        self.base
            .join(path)
            .expect("a relative path always joins onto an http(s) URL")
    }

    fn unreachable(&self, e: reqwest::Error) -> CloneError {
        CloneError::Unreachable {
            url: self.base.to_string(),
            reason: mask(&e.to_string(), &[&self.token]),
        }
    }

    async fn rejected(&self, what: String, rsp: reqwest::Response) -> CloneError {
        let status = rsp.status().as_u16();
        let text = rsp.text().await.unwrap_or_default();
        let body: dle_api::ApiError = serde_json::from_str(&text).unwrap_or_default();
        CloneError::Rejected {
            what,
            status,
            code: body.code,
            message: mask(&body.message, &[&self.token]),
        }
    }

    /// Sends a request with the token, retrying connection failures and 429/5xx answers
    /// with backoff for up to [`RETRY_BUDGET`]; answers the response and the attempts.
    async fn send_retrying(
        &self,
        build: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<(reqwest::Response, u32), CloneError> {
        let started = Instant::now();
        let mut delay = Duration::from_millis(100);
        let mut attempts = 0;
        loop {
            attempts += 1;
            let sent = build()
                .header("Verification-Token", self.token.expose())
                .send()
                .await;
            let transient = match &sent {
                Ok(rsp) => matches!(rsp.status().as_u16(), 429 | 500 | 502 | 503 | 504),
                Err(e) => e.is_connect() || e.is_timeout(),
            };
            if !transient || started.elapsed() + delay > RETRY_BUDGET {
                return sent.map(|r| (r, attempts)).map_err(|e| self.unreachable(e));
            }
            tracing::warn!(
                attempt = attempts,
                "the clone engine did not answer; retrying"
            );
            tokio::time::sleep(delay).await;
            delay *= 2;
        }
    }

    async fn get_clone(&self, id: &str) -> Result<Option<dle_api::Clone>, CloneError> {
        let rsp = self
            .http
            .get(self.url(&format!("clone/{id}")))
            .header("Verification-Token", self.token.expose())
            .send()
            .await
            .map_err(|e| self.unreachable(e))?;
        match rsp.status().as_u16() {
            404 => Ok(None),
            200 => rsp.json().await.map(Some).map_err(|e| self.unreachable(e)),
            _ => Err(self.rejected(format!("GET /clone/{id}"), rsp).await),
        }
    }
}

/// The first poll comes this soon: built-in clones are ready in a fraction of a second.
const FIRST_POLL: Duration = Duration::from_millis(5);

/// How long transient failures (connection refused, 429, 5xx) are retried per request.
const RETRY_BUDGET: Duration = Duration::from_secs(8);

/// Poll delays grow by 30% each time, capped at one second.
fn next_delay(d: Duration) -> Duration {
    (d + d * 3 / 10).min(Duration::from_secs(1))
}

#[async_trait]
impl CloneEngine for DleEngine {
    fn describe(&self) -> String {
        format!("clone engine at {}", self.base)
    }

    async fn create(
        &self,
        req: &CloneRequest,
        deadline: Duration,
    ) -> Result<CloneInfo, CloneError> {
        let started = Instant::now();
        // Encoded as DLE's own client encodes it (every field, zero values included).
        let body = dle_api::CreateCloneRequest {
            id: req.id.clone(),
            db: Some(dle_api::DatabaseRequest {
                username: req.username.clone(),
                password: req.password.expose().to_string(),
                restricted: req.restricted,
                db_name: req.db_name.clone(),
            }),
            snapshot: req
                .snapshot
                .as_ref()
                .map(|id| dle_api::SnapshotCloneField { id: id.clone() }),
            ..Default::default()
        };
        let (rsp, attempts) = self
            .send_retrying(|| self.http.post(self.url("clone")).json(&body))
            .await?;
        if !rsp.status().is_success() {
            let err = self.rejected("POST /clone".into(), rsp).await;
            // A retried create whose first attempt did arrive finds its own id in use.
            let ours = attempts > 1
                && matches!(&err, CloneError::Rejected { status: 400, message, .. } if message.contains("already in use"));
            if !ours {
                return Err(err);
            }
        }

        let mut delay = FIRST_POLL;
        let mut last_status: String;
        loop {
            // Transient errors while polling are retried until the deadline.
            match self.get_clone(&req.id).await {
                Ok(Some(c)) => {
                    last_status = format!("{}: {}", c.status.code, c.status.message);
                    match c.status.code.as_str() {
                        "OK" => {
                            let db = c.db;
                            let port = db.port.parse().map_err(|_| CloneError::Fatal {
                                id: req.id.clone(),
                                message: format!(
                                    "the engine reported no usable port ({:?})",
                                    db.port
                                ),
                            })?;
                            let snap = c.snapshot.unwrap_or_default();
                            return Ok(CloneInfo {
                                id: req.id.clone(),
                                host: if db.host.is_empty() {
                                    self.base.host_str().unwrap_or("127.0.0.1").to_string()
                                } else {
                                    db.host
                                },
                                port,
                                db_name: req.db_name.clone(),
                                username: req.username.clone(),
                                password: req.password.clone(),
                                snapshot_id: dle_api::blank(&snap.id).map(str::to_string),
                                data_state_at: snap
                                    .data_state_at
                                    .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
                                ready_seconds: started.elapsed().as_secs_f64(),
                            });
                        }
                        "FATAL" => {
                            return Err(CloneError::Fatal {
                                id: req.id.clone(),
                                message: c.status.message,
                            })
                        }
                        _ => {}
                    }
                }
                Ok(None) => {
                    // The engine accepted the clone and then lost it (deleted, or the engine
                    // restarted without it): waiting longer cannot help.
                    return Err(CloneError::Fatal {
                        id: req.id.clone(),
                        message: "the engine no longer knows this clone (404 after it accepted \
                                  the create): it was deleted, or the engine restarted without it"
                            .into(),
                    });
                }
                Err(e @ CloneError::Unreachable { .. }) => last_status = e.to_string(),
                Err(e) => return Err(e),
            }
            if started.elapsed() + delay > deadline {
                return Err(CloneError::Timeout {
                    id: req.id.clone(),
                    waited: started.elapsed(),
                    last_status,
                });
            }
            tokio::time::sleep(delay).await;
            delay = next_delay(delay);
        }
    }

    async fn destroy(&self, id: &str) -> Result<(), CloneError> {
        let (rsp, _) = self
            .send_retrying(|| self.http.delete(self.url(&format!("clone/{id}"))))
            .await?;
        match rsp.status().as_u16() {
            404 => return Ok(()),
            200..=299 => {}
            _ => return Err(self.rejected(format!("DELETE /clone/{id}"), rsp).await),
        }
        // Deletion runs in the background (DELETING); it ends with the clone gone, or
        // FATAL with what could not be removed.
        let started = Instant::now();
        let mut delay = FIRST_POLL;
        loop {
            match self.get_clone(id).await {
                Ok(None) => return Ok(()),
                Ok(Some(c)) if c.status.code == "FATAL" => {
                    return Err(CloneError::Leftover {
                        id: id.to_string(),
                        message: c.status.message,
                    })
                }
                Ok(Some(_)) | Err(CloneError::Unreachable { .. }) => {}
                Err(e) => return Err(e),
            }
            if started.elapsed() + delay > super::DESTROY_WAIT {
                return Err(CloneError::StillDeleting {
                    id: id.to_string(),
                    waited: started.elapsed(),
                });
            }
            tokio::time::sleep(delay).await;
            delay = next_delay(delay);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn polling_backs_off_to_one_second() {
        let mut d = FIRST_POLL;
        let mut total = Duration::ZERO;
        for _ in 0..8 {
            total += d;
            d = next_delay(d);
        }
        assert!(
            total < Duration::from_millis(500),
            "fast at first: {total:?}"
        );
        for _ in 0..30 {
            d = next_delay(d);
        }
        assert_eq!(d, Duration::from_secs(1));
    }

    #[test]
    fn paths_keep_the_base_prefix() {
        let e = DleEngine::new(
            "http://127.0.0.1:2345/dle".parse().unwrap(),
            Secret::new("t"),
        );
        assert_eq!(
            e.url("clone/x").as_str(),
            "http://127.0.0.1:2345/dle/clone/x"
        );
        let e = DleEngine::new("http://127.0.0.1:2345".parse().unwrap(), Secret::new("t"));
        assert_eq!(e.url("clone").as_str(), "http://127.0.0.1:2345/clone");
    }

    #[test]
    fn port_is_read_from_string_or_number() {
        let port = |json: &str| {
            serde_json::from_str::<dle_api::Database>(json)
                .unwrap()
                .port
                .parse::<u16>()
                .ok()
        };
        assert_eq!(port(r#"{"port":"6001"}"#), Some(6001));
        assert_eq!(port(r#"{"port":6002}"#), Some(6002));
        assert_eq!(port(r#"{"port":""}"#), None);
    }
}
