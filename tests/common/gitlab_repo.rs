//! The GitLab double's repository endpoints, served from a real git repository with git
//! plumbing: `GET /projects/:id/merge_requests/:iid` (`sha`, `diff_refs`), the paged
//! `GET /projects/:id/repository/tree?ref=&path=` (`404 Tree Not Found` for a missing
//! path), and `GET /projects/:id/repository/blobs/:sha/raw`.

use super::gitlab_double::{error, GitlabDouble};
use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

#[derive(Debug, Clone)]
pub struct ServedRepo {
    pub path: std::path::PathBuf,
    pub head: String,
    pub base: String,
}

fn git(repo: &std::path::Path, args: &[&str]) -> Option<Vec<u8>> {
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(args)
        .output()
        .ok()?;
    out.status.success().then_some(out.stdout)
}

fn query(raw: &Option<String>, key: &str) -> Option<String> {
    url::form_urlencoded::parse(raw.as_deref().unwrap_or("").as_bytes())
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

pub async fn merge_request(
    State(d): State<GitlabDouble>,
    Path((project, iid)): Path<(String, u64)>,
) -> Response {
    match d.served_repo() {
        Some(r) if d.mr_known(&project, iid) => Json(json!({
            "id": 900 + iid, "iid": iid, "project_id": 42, "title": "Add migrations",
            "state": "opened", "sha": r.head, "source_branch": "feature", "target_branch": "main",
            "diff_refs": {"base_sha": r.base, "head_sha": r.head, "start_sha": r.base}
        }))
        .into_response(),
        _ => error(404, "404 Not found"),
    }
}

pub async fn tree(
    State(d): State<GitlabDouble>,
    Path(project): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    let Some(repo) = d.served_repo().filter(|_| d.project_known(&project)) else {
        return error(404, "404 Project Not Found");
    };
    let rev = query(&raw, "ref").unwrap_or_else(|| "main".into());
    let path = query(&raw, "path").unwrap_or_default();
    let path = path.trim_matches('/');
    let mut args = vec!["ls-tree", "-z", rev.as_str()];
    let prefix = format!("{path}/");
    if !path.is_empty() {
        args.extend(["--", prefix.as_str()]);
    }
    let Some(out) = git(&repo.path, &args) else {
        return error(404, "404 Tree Not Found");
    };
    let items: Vec<Value> = out
        .split(|b| *b == 0)
        .filter(|r| !r.is_empty())
        .map(|record| {
            let tab = record.iter().position(|b| *b == b'\t').unwrap();
            let meta = String::from_utf8_lossy(&record[..tab]).to_string();
            let full = String::from_utf8_lossy(&record[tab + 1..]).to_string();
            let f: Vec<&str> = meta.split(' ').collect();
            let name = full.rsplit('/').next().unwrap_or(&full).to_string();
            json!({"id": f[2], "name": name, "type": f[1], "path": full, "mode": f[0]})
        })
        .collect();
    if items.is_empty() && !path.is_empty() {
        return error(404, "404 Tree Not Found");
    }
    let per_page: usize = query(&raw, "per_page")
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let page: usize = query(&raw, "page")
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
        .max(1);
    let pages = items.len().div_ceil(per_page.max(1)).max(1);
    let slice: Vec<Value> = items
        .into_iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .collect();
    let mut response = Json(Value::Array(slice)).into_response();
    let next = if page < pages {
        (page + 1).to_string()
    } else {
        String::new()
    };
    let h = response.headers_mut();
    h.insert("x-page", page.to_string().parse().unwrap());
    h.insert("x-total-pages", pages.to_string().parse().unwrap());
    h.insert("x-next-page", next.parse().unwrap());
    response
}

pub async fn raw_blob(
    State(d): State<GitlabDouble>,
    Path((project, sha)): Path<(String, String)>,
) -> Response {
    let Some(repo) = d.served_repo().filter(|_| d.project_known(&project)) else {
        return error(404, "404 Project Not Found");
    };
    match git(&repo.path, &["cat-file", "blob", &sha]) {
        Some(bytes) => bytes.into_response(),
        None => error(404, "404 Blob Not Found"),
    }
}
