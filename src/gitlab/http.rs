//! The one door to GitLab's REST API: every request has a connect timeout and a total
//! timeout, and 429, 5xx, timeouts and connection failures are retried with backoff that
//! honours `Retry-After`, the first request included. Lists are read across all pages
//! (offset pagination, `x-next-page`). The token goes only into the `PRIVATE-TOKEN`
//! header and is masked out of every error text.

use super::GitlabError;
use crate::secret::{mask, Secret};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use std::time::Duration;
use url::Url;

pub use crate::config::sections::HttpPolicy;

/// The most pages of one list read (100 items each).
pub const MAX_PAGES: usize = 100;

/// An authenticated client for one GitLab instance's `/api/v4`.
#[derive(Clone)]
pub struct GitlabHttp {
    client: reqwest::Client,
    api: Url,
    base_url: String,
    token: Secret,
    policy: HttpPolicy,
}

/// The wait a 429 or 503 asks for (`Retry-After` in seconds), if any.
fn retry_after(response: &Response) -> Option<Duration> {
    let value = response.headers().get(reqwest::header::RETRY_AFTER)?;
    let secs: u64 = value.to_str().ok()?.trim().parse().ok()?;
    Some(Duration::from_secs(secs))
}

impl GitlabHttp {
    pub fn new(base_url: &Url, token: Secret, policy: HttpPolicy) -> Result<Self, GitlabError> {
        let mut api = base_url.clone();
        api.path_segments_mut()
            .map_err(|_| GitlabError::Unreachable {
                url: base_url.to_string(),
                reason: "not a base URL".into(),
            })?
            .pop_if_empty()
            .extend(["api", "v4"]);
        // No proxy from the environment (a trigger variable could set one and receive the
        // token), and no redirect followed: a 3xx is an answer, never a second request
        // carrying PRIVATE-TOKEN to wherever it points.
        let builder = reqwest::Client::builder()
            .connect_timeout(policy.connect_timeout)
            .timeout(policy.request_timeout)
            .user_agent(concat!("preflight/", env!("CARGO_PKG_VERSION")))
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none());
        let builder = match &policy.proxy {
            Some(proxy) => builder.proxy(reqwest::Proxy::all(proxy.as_str()).map_err(|e| {
                GitlabError::Unreachable {
                    url: base_url.to_string(),
                    reason: format!("gitlab.proxy {proxy}: {e}"),
                }
            })?),
            None => builder,
        };
        let client = builder.build().map_err(|e| GitlabError::Unreachable {
            url: base_url.to_string(),
            reason: e.to_string(),
        })?;
        Ok(GitlabHttp {
            client,
            api,
            base_url: base_url.to_string(),
            token,
            policy,
        })
    }

    /// `/api/v4/<segments...>`, each segment percent-encoded (a project path's `/`
    /// becomes `%2F`).
    pub fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.api.clone();
        url.path_segments_mut()
            .expect("the API URL is a base")
            .extend(segments);
        url
    }

    fn unreachable(&self, e: &reqwest::Error, what: &str) -> GitlabError {
        if e.is_timeout() {
            return GitlabError::Timeout {
                url: self.base_url.clone(),
                what: what.to_string(),
                after: self.policy.request_timeout,
            };
        }
        GitlabError::Unreachable {
            url: self.base_url.clone(),
            reason: mask(&crate::error_chain(e), &[&self.token]),
        }
    }

    async fn status_error(&self, what: &str, response: Response) -> GitlabError {
        let status = response.status();
        let url = self.base_url.clone();
        match status {
            StatusCode::UNAUTHORIZED => GitlabError::Unauthorized { url },
            StatusCode::NOT_FOUND => GitlabError::NotFound {
                url,
                what: what.to_string(),
            },
            _ => {
                let text = response.text().await.unwrap_or_default();
                let text: String = text.chars().take(300).collect();
                GitlabError::Status {
                    url,
                    status: status.as_u16(),
                    what: what.to_string(),
                    message: mask(&text, &[&self.token]),
                }
            }
        }
    }

    /// Sends a request made by `build` (called again for each try) and returns a
    /// successful response; `what` names it in errors ("posting the note").
    pub async fn send(
        &self,
        what: &str,
        build: impl Fn(&reqwest::Client) -> RequestBuilder,
    ) -> Result<Response, GitlabError> {
        let mut backoff = Duration::from_millis(500);
        let mut attempt = 1;
        loop {
            let request = build(&self.client).header("PRIVATE-TOKEN", self.token.expose());
            let (error, wait) = match request.send().await {
                Ok(r) if r.status().is_success() => return Ok(r),
                Ok(r)
                    if r.status() == StatusCode::TOO_MANY_REQUESTS
                        || r.status().is_server_error() =>
                {
                    let wait = retry_after(&r).unwrap_or(backoff);
                    (self.status_error(what, r).await, wait)
                }
                Ok(r) => return Err(self.status_error(what, r).await),
                Err(e) => (self.unreachable(&e, what), backoff),
            };
            if attempt >= self.policy.attempts {
                return Err(error);
            }
            let wait = wait.min(self.policy.max_backoff);
            tracing::warn!(
                "GitLab: {error}; trying again in {wait:?} (try {attempt} of {})",
                self.policy.attempts
            );
            tokio::time::sleep(wait).await;
            backoff = (backoff * 2).min(self.policy.max_backoff);
            attempt += 1;
        }
    }

    /// A GET whose JSON answer is decoded as `T`.
    pub async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        what: &str,
        url: Url,
    ) -> Result<T, GitlabError> {
        let response = self.send(what, |c| c.get(url.clone())).await?;
        self.decode(what, response).await
    }

    async fn decode<T: serde::de::DeserializeOwned>(
        &self,
        what: &str,
        response: Response,
    ) -> Result<T, GitlabError> {
        let bytes = response
            .bytes()
            .await
            .map_err(|e| self.unreachable(&e, what))?;
        serde_json::from_slice(&bytes).map_err(|e| GitlabError::Status {
            url: self.base_url.clone(),
            status: 200,
            what: what.to_string(),
            message: format!("the answer is not what GitLab documents: {e}"),
        })
    }

    /// Every item of a paged list (`per_page=100`, following `x-next-page`), at most
    /// [`MAX_PAGES`] pages: a list that never ends is an error, not a hang.
    pub async fn get_all<T: serde::de::DeserializeOwned>(
        &self,
        what: &str,
        url: Url,
    ) -> Result<Vec<T>, GitlabError> {
        let mut items = Vec::new();
        let mut page = "1".to_string();
        loop {
            let mut paged = url.clone();
            paged
                .query_pairs_mut()
                .append_pair("per_page", "100")
                .append_pair("page", &page);
            let response = self.send(what, |c| c.get(paged.clone())).await?;
            let next = response
                .headers()
                .get("x-next-page")
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(String::from);
            let batch: Vec<T> = self.decode(what, response).await?;
            let empty = batch.is_empty();
            items.extend(batch);
            match next {
                Some(n) if !empty && n != page => page = n,
                _ => return Ok(items),
            }
            if items.len() >= MAX_PAGES * 100 {
                return Err(GitlabError::Status {
                    url: self.base_url.clone(),
                    status: 200,
                    what: what.to_string(),
                    message: format!("more than {MAX_PAGES} pages; refusing to read on"),
                });
            }
        }
    }

    /// A POST or PUT of form fields whose JSON answer is decoded as `T`.
    pub async fn send_form<T: serde::de::DeserializeOwned>(
        &self,
        what: &str,
        method: Method,
        url: Url,
        form: &[(&str, &str)],
    ) -> Result<T, GitlabError> {
        let response = self
            .send(what, |c| c.request(method.clone(), url.clone()).form(form))
            .await?;
        self.decode(what, response).await
    }
}
