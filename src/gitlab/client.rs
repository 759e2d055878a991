//! [`NoteApi`], [`StatusApi`] and [`LabelApi`] over GitLab's REST API for one merge
//! request (its notes, the current user, commit statuses on its project, its labels),
//! through [`GitlabHttp`].

use super::http::{GitlabHttp, HttpPolicy};
use super::{CommitStatus, GitlabError, LabelApi, Note, NoteApi, StatusApi};
use crate::config::GitlabTarget;
use async_trait::async_trait;
use reqwest::Method;

pub struct GitlabMr {
    http: GitlabHttp,
    target: GitlabTarget,
}

#[derive(serde::Deserialize)]
struct Created {
    id: u64,
}

impl GitlabMr {
    /// A client for the target MR. Nothing is sent yet.
    pub fn new(target: &GitlabTarget, policy: HttpPolicy) -> Result<GitlabMr, GitlabError> {
        Ok(GitlabMr {
            http: GitlabHttp::new(&target.base_url, target.token.clone(), policy)?,
            target: target.clone(),
        })
    }

    /// `/projects/:id/merge_requests/:iid` followed by `more`.
    fn mr_url(&self, more: &[&str]) -> url::Url {
        let iid = self.target.mr_iid.to_string();
        let mut segments = vec![
            "projects",
            self.target.project.as_str(),
            "merge_requests",
            iid.as_str(),
        ];
        segments.extend(more);
        self.http.url(&segments)
    }

    fn note_url(&self, note: u64) -> url::Url {
        self.mr_url(&["notes", &note.to_string()])
    }

    fn mr(&self) -> String {
        format!(
            "merge request !{} of project {}",
            self.target.mr_iid, self.target.project
        )
    }
}

#[async_trait]
impl NoteApi for GitlabMr {
    async fn current_user(&self) -> Result<u64, GitlabError> {
        let user: Created = self
            .http
            .get_json("the token's user (GET /user)", self.http.url(&["user"]))
            .await?;
        Ok(user.id)
    }

    async fn list_notes(&self) -> Result<Vec<Note>, GitlabError> {
        self.http
            .get_all(
                &format!("the notes of {}", self.mr()),
                self.mr_url(&["notes"]),
            )
            .await
    }

    async fn get_note(&self, id: u64) -> Result<Option<Note>, GitlabError> {
        let what = format!("note {id} on {}", self.mr());
        match self.http.get_json(&what, self.note_url(id)).await {
            Ok(note) => Ok(Some(note)),
            Err(GitlabError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn create_note(&self, body: &str) -> Result<u64, GitlabError> {
        let created: Created = self
            .http
            .send_form(
                &format!("a new note on {}", self.mr()),
                Method::POST,
                self.mr_url(&["notes"]),
                &[("body", body)],
            )
            .await?;
        Ok(created.id)
    }

    async fn edit_note(&self, id: u64, body: &str) -> Result<(), GitlabError> {
        let _: Created = self
            .http
            .send_form(
                &format!("note {id} on {}", self.mr()),
                Method::PUT,
                self.note_url(id),
                &[("body", body)],
            )
            .await?;
        Ok(())
    }
}

#[async_trait]
impl StatusApi for GitlabMr {
    async fn set_status(&self, status: &CommitStatus<'_>) -> Result<(), GitlabError> {
        let url = self.http.url(&[
            "projects",
            self.target.project.as_str(),
            "statuses",
            status.sha,
        ]);
        let mut form = vec![
            ("state", status.state.name()),
            ("name", status.name),
            ("description", status.description),
        ];
        if let Some(target) = status.target_url {
            form.push(("target_url", target));
        }
        let what = format!(
            "the commit status {} ({}) of commit {}",
            status.name,
            status.state.name(),
            status.sha
        );
        let _: Created = self.http.send_form(&what, Method::POST, url, &form).await?;
        Ok(())
    }
}

#[async_trait]
impl LabelApi for GitlabMr {
    async fn relabel(&self, add: &[&str], remove: &[&str]) -> Result<(), GitlabError> {
        let (add, remove) = (add.join(","), remove.join(","));
        let _: Created = self
            .http
            .send_form(
                &format!("the labels of {}", self.mr()),
                Method::PUT,
                self.mr_url(&[]),
                &[
                    ("add_labels", add.as_str()),
                    ("remove_labels", remove.as_str()),
                ],
            )
            .await?;
        Ok(())
    }
}
