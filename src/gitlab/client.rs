//! [`NoteApi`] over GitLab's REST API, through the `gitlab` crate (which pages through
//! long note lists for us). The token is handed to the crate and nowhere else.

use super::{GitlabError, Note, NoteApi};
use crate::config::GitlabTarget;
use crate::secret::mask;
use async_trait::async_trait;
use gitlab::api::projects::merge_requests::notes::{
    CreateMergeRequestNote, EditMergeRequestNote, MergeRequestNotes,
};
use gitlab::api::{self, ApiError, AsyncQuery};
use gitlab::{AsyncGitlab, GitlabBuilder};

pub struct GitlabNotes {
    client: AsyncGitlab,
    target: GitlabTarget,
}

fn project_ref(project: &str) -> api::common::NameOrId<'_> {
    match project.parse::<u64>() {
        Ok(id) => id.into(),
        Err(_) => project.into(),
    }
}

fn status_of<E: std::error::Error + Send + Sync + 'static>(e: &ApiError<E>) -> Option<u16> {
    match e {
        ApiError::GitlabService { status, .. } | ApiError::GitlabWithStatus { status, .. } => {
            Some(status.as_u16())
        }
        _ => None,
    }
}

impl GitlabNotes {
    /// Connects (the crate checks the token against `GET /user` here).
    pub async fn connect(target: &GitlabTarget) -> Result<GitlabNotes, GitlabError> {
        let url = target.base_url.clone();
        let host = format!(
            "{}{}",
            url.host_str().unwrap_or_default(),
            url.port().map(|p| format!(":{p}")).unwrap_or_default()
        ) + url.path().trim_end_matches('/');
        let mut builder = GitlabBuilder::new(host, target.token.expose());
        if url.scheme() == "http" {
            builder.insecure();
        }
        let this_url = url.to_string();
        let client = builder.build_async().await.map_err(|e| {
            let text = mask(&e.to_string(), &[&target.token]);
            match &e {
                gitlab::GitlabError::Api { source } => match status_of(source) {
                    Some(401) => GitlabError::Unauthorized {
                        url: this_url.clone(),
                    },
                    Some(status) => GitlabError::Status {
                        url: this_url.clone(),
                        status,
                        what: "the token check (GET /user)".into(),
                        message: text,
                    },
                    None => GitlabError::Unreachable {
                        url: this_url.clone(),
                        reason: text,
                    },
                },
                _ => GitlabError::Unreachable {
                    url: this_url.clone(),
                    reason: text,
                },
            }
        })?;
        Ok(GitlabNotes {
            client,
            target: target.clone(),
        })
    }

    fn error<E: std::error::Error + Send + Sync + 'static>(
        &self,
        what: &str,
        e: ApiError<E>,
    ) -> GitlabError {
        let url = self.target.base_url.to_string();
        let message = mask(&e.to_string(), &[&self.target.token]);
        match status_of(&e) {
            Some(401) => GitlabError::Unauthorized { url },
            Some(404) => GitlabError::NotFound {
                url,
                what: format!(
                    "merge request !{} of project {}",
                    self.target.mr_iid, self.target.project
                ),
            },
            Some(status) => GitlabError::Status {
                url,
                status,
                what: what.to_string(),
                message,
            },
            None => GitlabError::Unreachable {
                url,
                reason: message,
            },
        }
    }
}

#[derive(serde::Deserialize)]
struct Created {
    id: u64,
}

#[async_trait]
impl NoteApi for GitlabNotes {
    async fn list_notes(&self) -> Result<Vec<Note>, GitlabError> {
        let endpoint = MergeRequestNotes::builder()
            .project(project_ref(&self.target.project))
            .merge_request(self.target.mr_iid)
            .build()
            .expect("project and merge request are set");
        api::paged(endpoint, api::Pagination::All)
            .query_async(&self.client)
            .await
            .map_err(|e| self.error("listing the MR's notes", e))
    }

    async fn create_note(&self, body: &str) -> Result<u64, GitlabError> {
        let endpoint = CreateMergeRequestNote::builder()
            .project(project_ref(&self.target.project))
            .merge_request(self.target.mr_iid)
            .body(body)
            .build()
            .expect("project, merge request and body are set");
        let created: Created = endpoint
            .query_async(&self.client)
            .await
            .map_err(|e| self.error("posting the note", e))?;
        Ok(created.id)
    }

    async fn edit_note(&self, id: u64, body: &str) -> Result<(), GitlabError> {
        let endpoint = EditMergeRequestNote::builder()
            .project(project_ref(&self.target.project))
            .merge_request(self.target.mr_iid)
            .note(id)
            .body(body)
            .build()
            .expect("project, merge request, note and body are set");
        let _: Created = endpoint
            .query_async(&self.client)
            .await
            .map_err(|e| self.error("editing the note", e))?;
        Ok(())
    }
}
