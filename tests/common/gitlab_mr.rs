//! The GitLab double's commit statuses (`POST /projects/:id/statuses/:sha`) and MR
//! labels (`PUT /projects/:id/merge_requests/:iid` with `add_labels` / `remove_labels`),
//! answered in GitLab's documented shapes and kept for the tests to read.

use super::gitlab_double::{error, GitlabDouble};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

/// One commit status as preflight set it.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredStatus {
    pub sha: String,
    pub name: String,
    pub state: String,
    pub target_url: Option<String>,
    pub description: String,
}

/// GitLab's states; moving a status to the state it has is refused, as GitLab does.
const STATES: &[&str] = &[
    "pending", "running", "success", "failed", "canceled", "skipped",
];

fn field(body: &[u8], key: &str) -> Option<String> {
    url::form_urlencoded::parse(body)
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

impl GitlabDouble {
    /// Every status set, in order.
    pub fn statuses(&self) -> Vec<StoredStatus> {
        self.with_inner(|i| i.statuses.clone())
    }

    /// The MR's labels now.
    pub fn labels(&self) -> Vec<String> {
        self.with_inner(|i| i.labels.clone())
    }

    /// The MR carries these labels before the run.
    pub fn set_labels(&self, labels: &[&str]) {
        self.with_inner(|i| i.labels = labels.iter().map(|l| l.to_string()).collect());
    }
}

pub async fn create_status(
    State(d): State<GitlabDouble>,
    Path((project, sha)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    if !d.project_known(&project) {
        return error(404, "404 Project Not Found");
    }
    let Some(state) = field(&body, "state").filter(|s| STATES.contains(&s.as_str())) else {
        return error(400, "400 Bad request - state does not have a valid value");
    };
    let name = field(&body, "name").unwrap_or_else(|| "default".into());
    let status = StoredStatus {
        sha: sha.clone(),
        name: name.clone(),
        state: state.clone(),
        target_url: field(&body, "target_url"),
        description: field(&body, "description").unwrap_or_default(),
    };
    let refused = d.with_inner(|i| {
        let last = i
            .statuses
            .iter()
            .rev()
            .find(|s| s.sha == sha && s.name == name);
        if last.is_some_and(|s| s.state == state) {
            return true;
        }
        i.statuses.push(status.clone());
        false
    });
    if refused {
        return error(
            400,
            &format!("Cannot transition status via :{state} from :{state}"),
        );
    }
    let id = d.with_inner(|i| i.statuses.len());
    (
        StatusCode::CREATED,
        Json(json!({
            "id": id, "sha": sha, "ref": "feature", "status": status.state, "name": status.name,
            "target_url": status.target_url, "description": status.description,
            "created_at": "2026-11-21T10:00:00.000Z", "started_at": null, "finished_at": null,
            "allow_failure": false, "coverage": null,
            "author": {"id": 1, "username": "preflight-bot", "name": "preflight", "state": "active"}
        })),
    )
        .into_response()
}

pub async fn update_mr(
    State(d): State<GitlabDouble>,
    Path((project, iid)): Path<(String, u64)>,
    body: Bytes,
) -> Response {
    if !d.mr_known(&project, iid) {
        return error(404, "404 Not found");
    }
    let list = |key| -> Vec<String> {
        field(&body, key)
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(String::from)
            .collect()
    };
    let (add, remove) = (list("add_labels"), list("remove_labels"));
    let labels = d.with_inner(|i| {
        i.labels.retain(|l| !remove.contains(l));
        for l in add {
            if !i.labels.contains(&l) {
                i.labels.push(l);
            }
        }
        i.labels.clone()
    });
    Json(json!({
        "id": 900 + iid, "iid": iid, "project_id": 42, "title": "Add migrations",
        "state": "opened", "labels": labels, "source_branch": "feature", "target_branch": "main"
    }))
    .into_response()
}
