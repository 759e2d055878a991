//! [`SourceTree`] over a git repository on disk, through git plumbing only (`ls-tree`,
//! `cat-file`, `merge-base`): the working tree is never read, so what a checkout's
//! files or links point to does not matter. Used by the demo, the tests and
//! `--local-checkout`. git runs with an explicit environment, no system or global
//! configuration, and literal pathspecs.

use super::{read_capped, Entry, EntryKind, SourceError, SourceTree};
use async_trait::async_trait;
use std::path::{Path, PathBuf};
use std::process::Stdio;

/// A repository on disk and the commit being rehearsed.
pub struct LocalRepo {
    repo: PathBuf,
    head: String,
}

fn git_command(repo: &Path) -> tokio::process::Command {
    let mut cmd = crate::child::async_command("git");
    cmd.env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_LITERAL_PATHSPECS", "1")
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("HOME", "/nonexistent")
        .arg("-c")
        .arg("safe.directory=*")
        .arg("-c")
        .arg("core.fsmonitor=false")
        .arg("-C")
        .arg(repo)
        .stdin(Stdio::null())
        .kill_on_drop(true);
    cmd
}

async fn git(repo: &Path, args: &[&str]) -> Result<Vec<u8>, SourceError> {
    let out = git_command(repo)
        .args(args)
        .output()
        .await
        .map_err(SourceError::GitMissing)?;
    if !out.status.success() {
        return Err(SourceError::Git {
            args: args.join(" "),
            repo: repo.display().to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(out.stdout)
}

fn trimmed(bytes: Vec<u8>) -> String {
    String::from_utf8_lossy(&bytes).trim().to_string()
}

impl LocalRepo {
    /// Opens `repo` at `rev` (a SHA, a branch, `HEAD`), resolved to its commit.
    pub async fn open(repo: &Path, rev: &str) -> Result<LocalRepo, SourceError> {
        let spec = format!("{rev}^{{commit}}");
        let head = trimmed(git(repo, &["rev-parse", "--verify", "--quiet", &spec]).await?);
        Ok(LocalRepo {
            repo: repo.to_path_buf(),
            head,
        })
    }

    pub fn path(&self) -> &Path {
        &self.repo
    }
}

/// Parses `git ls-tree -z` output: `<mode> <type> <oid>\t<path>\0` per entry.
fn parse_ls_tree(out: &[u8], prefix: &str) -> Result<Vec<Entry>, SourceError> {
    let mut entries = Vec::new();
    for record in out.split(|b| *b == 0).filter(|r| !r.is_empty()) {
        let tab = record
            .iter()
            .position(|b| *b == b'\t')
            .unwrap_or(record.len());
        let meta = String::from_utf8_lossy(&record[..tab]);
        let path = String::from_utf8_lossy(record.get(tab + 1..).unwrap_or_default());
        let mut fields = meta.split(' ');
        let (mode, _kind, oid) = (
            fields.next().unwrap_or_default(),
            fields.next().unwrap_or_default(),
            fields.next().unwrap_or_default(),
        );
        let kind = EntryKind::from_mode(mode).ok_or_else(|| SourceError::UnknownMode {
            path: path.to_string(),
            mode: mode.to_string(),
        })?;
        let name = path.strip_prefix(prefix).unwrap_or(&path).to_string();
        entries.push(Entry {
            name,
            kind,
            oid: oid.to_string(),
        });
    }
    Ok(entries)
}

#[async_trait]
impl SourceTree for LocalRepo {
    fn head(&self) -> &str {
        &self.head
    }

    fn describe(&self) -> String {
        format!("the local checkout {}", self.repo.display())
    }

    async fn list(&self, rev: &str, dir: &str) -> Result<Option<Vec<Entry>>, SourceError> {
        let dir = dir.trim_matches('/');
        let prefix = if dir.is_empty() {
            String::new()
        } else {
            format!("{dir}/")
        };
        // The commit must exist (a shallow clone may lack the merge base): fail clearly.
        git(
            &self.repo,
            &["cat-file", "-e", &format!("{rev}^{{commit}}")],
        )
        .await?;
        let mut args = vec!["ls-tree", "-z", "--full-tree", rev];
        if !prefix.is_empty() {
            args.extend(["--", prefix.as_str()]);
        }
        let out = git(&self.repo, &args).await?;
        let entries = parse_ls_tree(&out, &prefix)?;
        Ok((!entries.is_empty()).then_some(entries))
    }

    async fn blob(&self, oid: &str, path: &str, limit: u64) -> Result<Vec<u8>, SourceError> {
        let mut child = git_command(&self.repo)
            .args(["cat-file", "blob", oid])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(SourceError::GitMissing)?;
        let stdout = child.stdout.take().expect("stdout is piped");
        let read = read_capped(stdout, path, limit).await;
        if read.is_err() {
            let _ = child.start_kill();
        }
        let out = child
            .wait_with_output()
            .await
            .map_err(SourceError::GitMissing)?;
        let bytes = read?;
        if !out.status.success() {
            return Err(SourceError::Git {
                args: format!("cat-file blob {oid}"),
                repo: self.repo.display().to_string(),
                stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
            });
        }
        Ok(bytes)
    }

    async fn merge_base(&self, branch: &str) -> Result<String, SourceError> {
        for candidate in [format!("origin/{branch}"), branch.to_string()] {
            if let Ok(out) = git(&self.repo, &["merge-base", &self.head, &candidate]).await {
                return Ok(trimmed(out));
            }
        }
        Err(SourceError::NoMergeBase {
            branch: branch.to_string(),
            repo: self.repo.display().to_string(),
        })
    }
}

/// Makes `dir` a repository with everything in it committed on branch `main` (the
/// demo's examples, tests' repositories).
pub async fn init_and_commit(dir: &Path, message: &str) -> Result<(), SourceError> {
    let identity = [
        "-c",
        "user.name=preflight",
        "-c",
        "user.email=preflight@localhost",
    ];
    git(dir, &["init", "-q", "-b", "main"]).await?;
    git(dir, &["add", "-A"]).await?;
    let commit = [&identity[..], &["commit", "-qm", message, "--allow-empty"]].concat();
    git(dir, &commit).await?;
    Ok(())
}

/// A committed repository with `files` (path, content) for unit tests.
#[cfg(test)]
pub async fn test_repo(files: &[(&str, &str)]) -> (tempfile::TempDir, LocalRepo) {
    let dir = tempfile::tempdir().unwrap();
    for (path, body) in files {
        let p = dir.path().join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, body).unwrap();
    }
    init_and_commit(dir.path(), "t").await.unwrap();
    let repo = LocalRepo::open(dir.path(), "HEAD").await.unwrap();
    (dir, repo)
}
