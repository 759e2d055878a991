//! Choosing the migrations an MR adds: those present in the checkout (the MR head) and
//! absent at the merge base with the target branch. Earlier migrations are taken as
//! already applied on the clone. Git is asked through argument vectors, never a shell.

use super::Migration;
use crate::config::Selection;
use std::collections::HashSet;
use std::path::Path;
use std::process::Command;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum SelectionError {
    #[error("git could not be run in {dir}: {source}; install git or pass --all-migrations")]
    GitMissing { dir: String, source: std::io::Error },
    #[error("git {args} failed in {dir}: {stderr}")]
    Git {
        args: String,
        dir: String,
        stderr: String,
    },
    #[error("cannot find the merge base with branch {branch:?} in {dir}: neither origin/{branch} nor {branch} is known; fetch the target branch or pass CI_MERGE_REQUEST_DIFF_BASE_SHA")]
    NoMergeBase { branch: String, dir: String },
}

fn git(dir: &Path, args: &[&str]) -> Result<String, SelectionError> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .map_err(|source| SelectionError::GitMissing {
            dir: dir.display().to_string(),
            source,
        })?;
    if !out.status.success() {
        return Err(SelectionError::Git {
            args: args.join(" "),
            dir: dir.display().to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The commit migrations are compared against, or `None` for "all are new".
pub fn base_commit(
    checkout: &Path,
    selection: &Selection,
) -> Result<Option<String>, SelectionError> {
    match selection {
        Selection::All => Ok(None),
        Selection::SinceCommit(sha) => Ok(Some(sha.clone())),
        Selection::SinceBranch(branch) => {
            for candidate in [format!("origin/{branch}"), branch.clone()] {
                if let Ok(out) = git(checkout, &["merge-base", "HEAD", &candidate]) {
                    return Ok(Some(out.trim().to_string()));
                }
            }
            Err(SelectionError::NoMergeBase {
                branch: branch.clone(),
                dir: checkout.display().to_string(),
            })
        }
    }
}

/// Entry names directly under `dir` at commit `rev` (empty if `dir` did not exist).
fn entries_at(checkout: &Path, rev: &str, dir: &Path) -> Result<HashSet<String>, SelectionError> {
    // Fail clearly when the commit itself is unknown (a shallow clone, say).
    git(checkout, &["cat-file", "-e", &format!("{rev}^{{commit}}")])?;
    let prefix = format!("{}/", dir.display());
    let out = git(checkout, &["ls-tree", "--name-only", rev, "--", &prefix])?;
    Ok(out
        .lines()
        .filter_map(|l| l.strip_prefix(&prefix))
        .map(str::to_string)
        .collect())
}

/// The migrations of `all` that are absent at `base` (all of them when `base` is None).
pub fn select_new(
    checkout: &Path,
    dir: &Path,
    base: Option<&str>,
    all: Vec<Migration>,
) -> Result<Vec<Migration>, SelectionError> {
    let Some(base) = base else {
        return Ok(all);
    };
    let existing = entries_at(checkout, base, dir)?;
    Ok(all
        .into_iter()
        .filter(|m| !existing.contains(&m.entry))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::file::LayoutChoice;
    use crate::migrations::discover;
    use std::fs;

    fn run(dir: &Path, args: &[&str]) {
        let ok = Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .output()
            .unwrap();
        assert!(ok.status.success(), "{:?}", ok);
    }

    #[test]
    fn only_migrations_absent_at_the_merge_base_are_selected() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path();
        run(p, &["init", "-q", "-b", "main"]);
        run(p, &["config", "user.email", "t@example.com"]);
        run(p, &["config", "user.name", "t"]);
        fs::create_dir_all(p.join("db/migrations")).unwrap();
        fs::write(p.join("db/migrations/0001_a.sql"), "select 1;").unwrap();
        run(p, &["add", "."]);
        run(p, &["commit", "-qm", "base"]);
        run(p, &["checkout", "-qb", "feature"]);
        fs::write(p.join("db/migrations/0002_b.sql"), "select 2;").unwrap();
        run(p, &["add", "."]);
        run(p, &["commit", "-qm", "head"]);

        let dir = Path::new("db/migrations");
        let (_, all) = discover(p, dir, LayoutChoice::Auto).unwrap();
        let base = base_commit(p, &Selection::SinceBranch("main".into()))
            .unwrap()
            .unwrap();
        let new = select_new(p, dir, Some(&base), all.clone()).unwrap();
        assert_eq!(new.len(), 1);
        assert_eq!(new[0].entry, "0002_b.sql");
        assert_eq!(select_new(p, dir, None, all).unwrap().len(), 2);

        let err = base_commit(p, &Selection::SinceBranch("nope".into())).unwrap_err();
        assert!(err.to_string().contains("fetch the target branch"), "{err}");
        let err = select_new(
            p,
            dir,
            Some("0123456789abcdef0123456789abcdef01234567"),
            vec![],
        )
        .unwrap_err();
        assert!(matches!(err, SelectionError::Git { .. }));
    }
}
