//! [`SourceTree`] over the repository API of the MR's project: the job reads the MR (its
//! head SHA and merge base) and then trees and blobs at that SHA, and writes nothing of
//! the MR's code to disk but the migrations it stages. GitLab keeps every MR's head, from
//! forks too, in the target project (`refs/merge-requests/IID/head`), so reading by SHA
//! from the target project works for every MR. The head must be the SHA the job was
//! asked to rehearse; if the MR moved on, a newer pipeline rehearses the new head.

use super::{Entry, EntryKind, SourceError, SourceTree};
use crate::gitlab::http::GitlabHttp;
use crate::gitlab::GitlabError;
use async_trait::async_trait;

/// The MR's code as GitLab's repository API serves it.
pub struct GitlabSource {
    http: GitlabHttp,
    project: String,
    mr_iid: u64,
    head: String,
    base: Option<String>,
    /// The MR's description (its declared queries).
    description: Option<String>,
}

#[derive(serde::Deserialize)]
struct DiffRefs {
    base_sha: Option<String>,
}

#[derive(serde::Deserialize)]
struct MergeRequest {
    sha: Option<String>,
    description: Option<String>,
    diff_refs: Option<DiffRefs>,
}

#[derive(serde::Deserialize)]
struct TreeItem {
    id: String,
    name: String,
    mode: String,
    path: String,
}

impl GitlabSource {
    /// Reads MR `mr_iid` of `project` and checks that its head is `requested`.
    pub async fn open(
        http: GitlabHttp,
        project: &str,
        mr_iid: u64,
        requested: &str,
    ) -> Result<GitlabSource, SourceError> {
        let url = http.url(&["projects", project, "merge_requests", &mr_iid.to_string()]);
        let mr: MergeRequest = http
            .get_json(
                &format!("merge request !{mr_iid} of project {project}"),
                url,
            )
            .await?;
        let actual = mr.sha.unwrap_or_default();
        if actual.is_empty() || !actual.eq_ignore_ascii_case(requested) {
            return Err(SourceError::HeadMoved {
                requested: requested.to_string(),
                actual,
            });
        }
        Ok(GitlabSource {
            http,
            project: project.to_string(),
            mr_iid,
            head: actual,
            base: mr.diff_refs.and_then(|d| d.base_sha),
            description: mr.description,
        })
    }
}

#[async_trait]
impl SourceTree for GitlabSource {
    fn head(&self) -> &str {
        &self.head
    }

    fn describe(&self) -> String {
        format!("merge request !{} of project {}", self.mr_iid, self.project)
    }

    fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }

    async fn list(&self, rev: &str, dir: &str) -> Result<Option<Vec<Entry>>, SourceError> {
        let mut url = self
            .http
            .url(&["projects", &self.project, "repository", "tree"]);
        url.query_pairs_mut().append_pair("ref", rev);
        let dir = dir.trim_matches('/');
        if !dir.is_empty() {
            url.query_pairs_mut().append_pair("path", dir);
        }
        let what = format!("the tree {dir:?} at {rev}");
        let items: Vec<TreeItem> = match self.http.get_all(&what, url).await {
            Ok(items) => items,
            Err(GitlabError::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let entries = items
            .into_iter()
            .map(|item| {
                let kind =
                    EntryKind::from_mode(&item.mode).ok_or_else(|| SourceError::UnknownMode {
                        path: item.path.clone(),
                        mode: item.mode.clone(),
                    })?;
                Ok(Entry {
                    name: item.name,
                    kind,
                    oid: item.id,
                })
            })
            .collect::<Result<Vec<_>, SourceError>>()?;
        Ok((!entries.is_empty()).then_some(entries))
    }

    async fn blob(&self, oid: &str, path: &str, limit: u64) -> Result<Vec<u8>, SourceError> {
        let url = self
            .http
            .url(&["projects", &self.project, "repository", "blobs", oid, "raw"]);
        let what = format!("the blob of {path}");
        let mut response = self.http.send(&what, |c| c.get(url.clone())).await?;
        let mut bytes = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| GitlabError::Unreachable {
                url: url.origin().ascii_serialization(),
                reason: e.to_string(),
            })?
        {
            bytes.extend_from_slice(&chunk);
            if bytes.len() as u64 > limit {
                return Err(SourceError::TooLarge {
                    path: path.to_string(),
                    limit,
                });
            }
        }
        Ok(bytes)
    }

    async fn merge_base(&self, branch: &str) -> Result<String, SourceError> {
        self.base.clone().ok_or_else(|| SourceError::NoMergeBase {
            branch: branch.to_string(),
            repo: self.describe(),
        })
    }
}
