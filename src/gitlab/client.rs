//! [`NoteApi`] over GitLab's REST API (merge request notes and the current user), through
//! [`GitlabHttp`].

use super::http::{GitlabHttp, HttpPolicy};
use super::{GitlabError, Note, NoteApi};
use crate::config::GitlabTarget;
use async_trait::async_trait;
use reqwest::Method;

pub struct GitlabNotes {
    http: GitlabHttp,
    target: GitlabTarget,
}

#[derive(serde::Deserialize)]
struct Created {
    id: u64,
}

impl GitlabNotes {
    /// A client for the target MR's notes. Nothing is sent yet.
    pub fn new(target: &GitlabTarget, policy: HttpPolicy) -> Result<GitlabNotes, GitlabError> {
        Ok(GitlabNotes {
            http: GitlabHttp::new(&target.base_url, target.token.clone(), policy)?,
            target: target.clone(),
        })
    }

    fn notes_url(&self, note: Option<u64>) -> url::Url {
        let iid = self.target.mr_iid.to_string();
        let mut segments = vec![
            "projects",
            self.target.project.as_str(),
            "merge_requests",
            iid.as_str(),
            "notes",
        ];
        let id = note.map(|n| n.to_string());
        segments.extend(id.as_deref());
        self.http.url(&segments)
    }

    fn mr(&self) -> String {
        format!(
            "merge request !{} of project {}",
            self.target.mr_iid, self.target.project
        )
    }
}

#[async_trait]
impl NoteApi for GitlabNotes {
    async fn current_user(&self) -> Result<u64, GitlabError> {
        let user: Created = self
            .http
            .get_json("the token's user (GET /user)", self.http.url(&["user"]))
            .await?;
        Ok(user.id)
    }

    async fn list_notes(&self) -> Result<Vec<Note>, GitlabError> {
        self.http
            .get_all(&format!("the notes of {}", self.mr()), self.notes_url(None))
            .await
    }

    async fn create_note(&self, body: &str) -> Result<u64, GitlabError> {
        let created: Created = self
            .http
            .send_form(
                &format!("a new note on {}", self.mr()),
                Method::POST,
                self.notes_url(None),
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
                self.notes_url(Some(id)),
                &[("body", body)],
            )
            .await?;
        Ok(())
    }
}
