//! The MR's tree, read as git objects and never as files: a migration is a blob at the
//! head commit, listed from the commit's tree, so no path the MR names is ever opened on
//! the host. A symlink, a submodule or any other entry that is not a regular file or a
//! directory is refused by name before anything runs ([`SourceError::NotRegular`]).
//!
//! Two readers implement [`SourceTree`]: [`git::LocalRepo`] (git plumbing on a
//! repository on disk: the demo, tests, `--local-checkout`) and [`gitlab::GitlabSource`]
//! (the repository API of the MR's project, which the CI job uses). Blobs are read with
//! a size cap, so a huge file costs bounded memory.

pub mod git;
pub mod gitlab;
pub mod queries;

use async_trait::async_trait;
use thiserror::Error;

/// What a tree entry is, from its git mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    /// `100644` or `100755`.
    File,
    /// `040000`.
    Tree,
    /// `120000`: refused wherever a migration is read.
    Symlink,
    /// `160000`: refused wherever a migration is read.
    Submodule,
}

impl EntryKind {
    /// The kind of a git mode (`100644`, `120000`, ...); unknown modes are `None`.
    pub fn from_mode(mode: &str) -> Option<EntryKind> {
        match mode {
            "100644" | "100755" | "100664" => Some(EntryKind::File),
            "040000" | "40000" => Some(EntryKind::Tree),
            "120000" => Some(EntryKind::Symlink),
            "160000" => Some(EntryKind::Submodule),
            _ => None,
        }
    }

    fn describe(self) -> &'static str {
        match self {
            EntryKind::File => "a file",
            EntryKind::Tree => "a directory",
            EntryKind::Symlink => "a symbolic link",
            EntryKind::Submodule => "a submodule",
        }
    }
}

/// One entry of a tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The entry's name (not its path); non-UTF-8 bytes shown as U+FFFD.
    pub name: String,
    pub kind: EntryKind,
    /// The object id (blob, tree or commit).
    pub oid: String,
}

#[derive(Debug, Error)]
pub enum SourceError {
    #[error("{path} in the MR is {}, not a regular file; preflight reads migrations only from regular files in git (links and submodules are refused, because the job would otherwise open whatever they point to)", .kind.describe())]
    NotRegular { path: String, kind: EntryKind },
    #[error("{path} in the MR has git mode {mode}, which preflight does not read; migrations must be regular files")]
    UnknownMode { path: String, mode: String },
    #[error("{path} in the MR is over the {limit}-byte limit for one migration file (box.max_migration_bytes); split it or raise the limit")]
    TooLarge { path: String, limit: u64 },
    #[error("git could not be run: {0}; install git")]
    GitMissing(std::io::Error),
    #[error("git {args} failed in {repo}: {stderr}")]
    Git {
        args: String,
        repo: String,
        stderr: String,
    },
    #[error("cannot find the merge base with branch {branch:?} in {repo}: neither origin/{branch} nor {branch} is known; fetch the target branch or pass CI_MERGE_REQUEST_DIFF_BASE_SHA")]
    NoMergeBase { branch: String, repo: String },
    #[error("the MR's head is {actual}, but this job was asked to rehearse {requested}; a newer pipeline rehearses the new head")]
    HeadMoved { requested: String, actual: String },
    #[error("reading the MR's code from GitLab: {0}")]
    Gitlab(#[from] crate::gitlab::GitlabError),
}

/// A repository's trees and blobs, by revision.
#[async_trait]
pub trait SourceTree: Send + Sync {
    /// The commit being rehearsed (a full SHA where the reader knows it).
    fn head(&self) -> &str;
    /// Where the code comes from, for messages ("GitLab project 42 !7", a path).
    fn describe(&self) -> String;
    /// The MR's description, when the reader knows the MR (hostile text).
    fn description(&self) -> Option<&str> {
        None
    }
    /// The entries directly under `dir` (a path from the repository root, `""` for the
    /// root) at `rev`, or `None` when `dir` is not a directory there.
    async fn list(&self, rev: &str, dir: &str) -> Result<Option<Vec<Entry>>, SourceError>;
    /// A blob's bytes, refused past `limit` bytes (`path` names it in the error).
    async fn blob(&self, oid: &str, path: &str, limit: u64) -> Result<Vec<u8>, SourceError>;
    /// The merge base of the head with `branch`.
    async fn merge_base(&self, branch: &str) -> Result<String, SourceError>;
}

/// The kind of the entry at `path` at `rev`, walking from the root so that a linked
/// parent directory is seen too; `None` when there is no such entry.
pub async fn entry_at(
    tree: &dyn SourceTree,
    rev: &str,
    path: &str,
) -> Result<Option<EntryKind>, SourceError> {
    let mut dir = String::new();
    let mut kind = Some(EntryKind::Tree);
    for part in path.split('/').filter(|p| !p.is_empty() && *p != ".") {
        match kind {
            Some(EntryKind::Tree) => {}
            Some(other) => {
                return Err(SourceError::NotRegular {
                    path: dir,
                    kind: other,
                })
            }
            None => return Ok(None),
        }
        let entries = tree.list(rev, &dir).await?.unwrap_or_default();
        kind = entries.iter().find(|e| e.name == part).map(|e| e.kind);
        if !dir.is_empty() {
            dir.push('/');
        }
        dir.push_str(part);
    }
    Ok(kind)
}

/// The bytes of the regular file at `path` at `rev`, at most `limit`; `None` when
/// there is no such entry. A link, a submodule or a directory there is refused.
pub async fn file_at(
    tree: &dyn SourceTree,
    rev: &str,
    path: &str,
    limit: u64,
) -> Result<Option<Vec<u8>>, SourceError> {
    let path = path.trim_matches('/');
    let (dir, name) = path.rsplit_once('/').unwrap_or(("", path));
    if !dir.is_empty() && entry_at(tree, rev, dir).await? != Some(EntryKind::Tree) {
        return Ok(None);
    }
    let entries = tree.list(rev, dir).await?.unwrap_or_default();
    let Some(entry) = entries.into_iter().find(|e| e.name == name) else {
        return Ok(None);
    };
    if entry.kind != EntryKind::File {
        return Err(SourceError::NotRegular {
            path: path.to_string(),
            kind: entry.kind,
        });
    }
    tree.blob(&entry.oid, path, limit).await.map(Some)
}

/// Reads at most `limit + 1` bytes from `reader`, refusing more than `limit`.
pub(crate) async fn read_capped<R: tokio::io::AsyncRead + Unpin>(
    reader: R,
    path: &str,
    limit: u64,
) -> Result<Vec<u8>, SourceError> {
    use tokio::io::AsyncReadExt;
    let mut buf = Vec::new();
    reader
        .take(limit + 1)
        .read_to_end(&mut buf)
        .await
        .map_err(SourceError::GitMissing)?;
    if buf.len() as u64 > limit {
        return Err(SourceError::TooLarge {
            path: path.to_string(),
            limit,
        });
    }
    Ok(buf)
}
