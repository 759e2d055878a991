//! A GitLab API double: a local HTTP server on 127.0.0.1 that records every request and
//! answers the few endpoints preflight uses with GitLab's documented response shapes
//! (`GET /user`, the merge request notes list with offset pagination, get, create and
//! edit note, replies that turn a note into a discussion, commit statuses and MR labels
//! ([`super::gitlab_mr`]), and, with [`GitlabDouble::serve_repo`], the MR and its
//! repository's trees and blobs from a real git repository), checks `PRIVATE-TOKEN`, and
//! can be told to fail the next requests ([`Fault`]: a status, a 429 with `Retry-After`,
//! or no answer).

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use axum::{Json, Router};
use serde_json::{json, Value};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub query: String,
    pub token: Option<String>,
    pub body: String,
}

#[derive(Debug, Clone)]
pub struct StoredNote {
    pub id: u64,
    pub body: String,
    pub system: bool,
    /// The note's author; [`BOT_USER_ID`] is the token's own user.
    pub author_id: u64,
    /// Someone replied to it: GitLab then shows it as a `DiscussionNote`.
    pub discussion: bool,
}

/// The user id `GET /user` answers for the double's token.
pub const BOT_USER_ID: u64 = 1;

/// How the double answers one of the next requests instead of serving it.
#[derive(Debug, Clone, Copy)]
pub enum Fault {
    Status(u16),
    /// 429 Too Many Requests with `Retry-After: secs`.
    RetryAfter(u64),
    /// Never answers (the connection stays open until the client gives up).
    Hang,
    /// 307 Temporary Redirect to the same path on `127.0.0.1:<port>` (another origin).
    RedirectTo(u16),
}

#[derive(Default)]
pub(super) struct Inner {
    requests: Vec<Recorded>,
    notes: Vec<StoredNote>,
    next_id: u64,
    faults: VecDeque<Fault>,
    repo: Option<super::gitlab_repo::ServedRepo>,
    pub(super) statuses: Vec<super::gitlab_mr::StoredStatus>,
    pub(super) labels: Vec<String>,
}

#[derive(Clone)]
pub struct GitlabDouble {
    inner: Arc<Mutex<Inner>>,
    token: String,
    project: String,
    mr_iid: u64,
    pub url: String,
}

fn note_json(n: &StoredNote) -> Value {
    json!({
        "id": n.id, "type": if n.discussion { json!("DiscussionNote") } else { Value::Null }, "body": n.body, "attachment": null,
        "author": {"id": n.author_id, "username": format!("user{}", n.author_id), "name": "someone", "state": "active"},
        "created_at": "2026-11-21T10:00:00.000Z", "updated_at": "2026-11-21T10:00:00.000Z",
        "system": n.system, "noteable_id": 1, "noteable_type": "MergeRequest", "noteable_iid": 7,
        "resolvable": n.discussion, "confidential": false, "internal": false
    })
}

fn form_field(body: &str, key: &str) -> Option<String> {
    url::form_urlencoded::parse(body.as_bytes())
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
        .or_else(|| {
            serde_json::from_str::<Value>(body)
                .ok()?
                .get(key)?
                .as_str()
                .map(String::from)
        })
}

fn query_num(query: &str, key: &str, default: usize) -> usize {
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == key)
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(default)
}

pub(super) fn error(status: u16, message: &str) -> Response {
    (
        StatusCode::from_u16(status).unwrap(),
        Json(json!({ "message": message })),
    )
        .into_response()
}

impl GitlabDouble {
    /// Starts the double on a free loopback port.
    pub async fn start(token: &str, project: &str, mr_iid: u64) -> GitlabDouble {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let double = GitlabDouble {
            inner: Arc::new(Mutex::new(Inner {
                next_id: 1000,
                ..Default::default()
            })),
            token: token.to_string(),
            project: project.to_string(),
            mr_iid,
            url,
        };
        let app = Router::new()
            .route("/api/v4/user", get(user))
            .route(
                "/api/v4/projects/{project}/merge_requests/{iid}/notes",
                any(notes),
            )
            .route(
                "/api/v4/projects/{project}/merge_requests/{iid}/notes/{note}",
                any(note),
            )
            .route(
                "/api/v4/projects/{project}/merge_requests/{iid}",
                get(super::gitlab_repo::merge_request).put(super::gitlab_mr::update_mr),
            )
            .route(
                "/api/v4/projects/{project}/statuses/{sha}",
                axum::routing::post(super::gitlab_mr::create_status),
            )
            .route(
                "/api/v4/projects/{project}/repository/tree",
                get(super::gitlab_repo::tree),
            )
            .route(
                "/api/v4/projects/{project}/repository/blobs/{sha}/raw",
                get(super::gitlab_repo::raw_blob),
            )
            .fallback(|| async { error(404, "404 Not found") })
            .layer(middleware::from_fn_with_state(
                double.clone(),
                record_and_authorize,
            ))
            .with_state(double.clone());
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        double
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.inner.lock().unwrap().requests.clone()
    }

    pub fn notes(&self) -> Vec<StoredNote> {
        self.inner.lock().unwrap().notes.clone()
    }

    /// Adds an existing note written by the token's own user (an old one of ours, or a
    /// system note).
    pub fn add_note(&self, body: &str, system: bool) -> u64 {
        self.add_note_by(body, system, BOT_USER_ID)
    }

    /// Adds an existing note written by user `author`.
    pub fn add_note_by(&self, body: &str, system: bool, author_id: u64) -> u64 {
        let mut inner = self.inner.lock().unwrap();
        inner.next_id += 1;
        let id = inner.next_id;
        inner.notes.push(StoredNote {
            id,
            body: body.to_string(),
            system,
            author_id,
            discussion: false,
        });
        id
    }

    /// Another user replies to note `id`, which becomes a discussion.
    pub fn reply_to(&self, id: u64, body: &str) -> u64 {
        let reply = self.add_note_by(body, false, 2);
        let mut inner = self.inner.lock().unwrap();
        for n in inner
            .notes
            .iter_mut()
            .filter(|n| n.id == id || n.id == reply)
        {
            n.discussion = true;
        }
        reply
    }

    pub(super) fn with_inner<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        f(&mut self.inner.lock().unwrap())
    }

    /// The next requests answer with these statuses, in order.
    pub fn fail_next(&self, statuses: &[u16]) {
        let faults = statuses.iter().map(|s| Fault::Status(*s));
        self.inner.lock().unwrap().faults.extend(faults);
    }

    /// The next requests answer with these faults, in order.
    pub fn fault_next(&self, faults: &[Fault]) {
        self.inner.lock().unwrap().faults.extend(faults);
    }

    /// Serves the MR as `repo` at `head` with merge base `base` (the MR endpoint, the
    /// repository tree and raw blobs).
    pub fn serve_repo(&self, repo: &std::path::Path, head: &str, base: &str) {
        self.inner.lock().unwrap().repo = Some(super::gitlab_repo::ServedRepo {
            path: repo.to_path_buf(),
            head: head.to_string(),
            base: base.to_string(),
        });
    }

    pub(super) fn served_repo(&self) -> Option<super::gitlab_repo::ServedRepo> {
        self.inner.lock().unwrap().repo.clone()
    }

    fn record(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        body: &Bytes,
    ) -> Option<Fault> {
        let mut inner = self.inner.lock().unwrap();
        let token = headers
            .get("PRIVATE-TOKEN")
            .and_then(|v| v.to_str().ok())
            .map(String::from);
        inner.requests.push(Recorded {
            method: method.to_string(),
            path: uri.path().to_string(),
            query: uri.query().unwrap_or("").to_string(),
            token: token.clone(),
            body: String::from_utf8_lossy(body).into_owned(),
        });
        if let Some(fault) = inner.faults.pop_front() {
            return Some(fault);
        }
        if token.as_deref() != Some(self.token.as_str()) {
            return Some(Fault::Status(401));
        }
        None
    }

    pub(super) fn project_known(&self, project: &str) -> bool {
        project == self.project
    }

    pub(super) fn mr_known(&self, project: &str, iid: u64) -> bool {
        project == self.project && iid == self.mr_iid
    }
}

async fn user(State(d): State<GitlabDouble>) -> Response {
    Json(
        json!({"id": BOT_USER_ID, "username": "preflight-bot", "name": "preflight", "state": "active",
                "avatar_url": null, "web_url": format!("{}/preflight-bot", d.url)}),
    )
    .into_response()
}

async fn notes(
    State(d): State<GitlabDouble>,
    Path((project, iid)): Path<(String, u64)>,
    RawQuery(query): RawQuery,
    method: Method,
    uri: Uri,
    body: Bytes,
) -> Response {
    if !d.mr_known(&project, iid) {
        return error(404, "404 Not found");
    }
    let query = query.unwrap_or_default();
    match method {
        Method::GET => {
            let per_page = query_num(&query, "per_page", 20).clamp(1, 100);
            let page = query_num(&query, "page", 1).max(1);
            let inner = d.inner.lock().unwrap();
            let total = inner.notes.len();
            let pages = total.div_ceil(per_page).max(1);
            let items: Vec<Value> = inner
                .notes
                .iter()
                .skip((page - 1) * per_page)
                .take(per_page)
                .map(note_json)
                .collect();
            let mut response = Json(Value::Array(items)).into_response();
            let h = response.headers_mut();
            h.insert("x-page", page.to_string().parse().unwrap());
            h.insert("x-per-page", per_page.to_string().parse().unwrap());
            h.insert("x-total", total.to_string().parse().unwrap());
            h.insert("x-total-pages", pages.to_string().parse().unwrap());
            let next = if page < pages {
                (page + 1).to_string()
            } else {
                String::new()
            };
            h.insert("x-next-page", next.parse().unwrap());
            if page < pages {
                let link = format!(
                    "<{}{}?page={}&per_page={per_page}>; rel=\"next\"",
                    d.url,
                    uri.path(),
                    page + 1
                );
                h.insert("link", link.parse().unwrap());
            }
            response
        }
        Method::POST => {
            let Some(text) = form_field(&String::from_utf8_lossy(&body), "body") else {
                return error(400, "400 Bad request - body is missing");
            };
            let id = d.add_note(&text, false);
            let n = d.notes().into_iter().find(|n| n.id == id).unwrap();
            (StatusCode::CREATED, Json(note_json(&n))).into_response()
        }
        _ => error(405, "405 Method Not Allowed"),
    }
}

async fn note(
    State(d): State<GitlabDouble>,
    Path((project, iid, note_id)): Path<(String, u64, u64)>,
    method: Method,
    body: Bytes,
) -> Response {
    if !d.mr_known(&project, iid) {
        return error(404, "404 Not found");
    }
    let text = form_field(&String::from_utf8_lossy(&body), "body");
    let mut inner = d.inner.lock().unwrap();
    let Some(n) = inner.notes.iter_mut().find(|n| n.id == note_id) else {
        return error(404, "404 Note Not Found");
    };
    match (method, text) {
        (Method::GET, _) => Json(note_json(n)).into_response(),
        (Method::PUT, Some(text)) => {
            n.body = text;
            Json(note_json(n)).into_response()
        }
        (Method::PUT, None) => error(400, "400 Bad request - body is missing"),
        _ => error(405, "405 Method Not Allowed"),
    }
}

/// Records every request, answers injected faults, and checks `PRIVATE-TOKEN`, before
/// any route sees the request.
async fn record_and_authorize(State(d): State<GitlabDouble>, req: Request, next: Next) -> Response {
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, 16 << 20)
        .await
        .unwrap_or_default();
    match d.record(&parts.method, &parts.uri, &parts.headers, &bytes) {
        None => {}
        Some(Fault::Status(status)) => return error(status, "injected fault"),
        Some(Fault::RetryAfter(secs)) => {
            let mut r = error(429, "429 Too Many Requests");
            r.headers_mut()
                .insert("retry-after", secs.to_string().parse().unwrap());
            return r;
        }
        Some(Fault::Hang) => std::future::pending::<()>().await,
        Some(Fault::RedirectTo(port)) => {
            let mut r = error(307, "307 Temporary Redirect");
            let to = format!("http://127.0.0.1:{port}{}", parts.uri);
            r.headers_mut().insert("location", to.parse().unwrap());
            return r;
        }
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}
