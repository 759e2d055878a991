//! Choosing the migrations an MR adds: those present at the MR's head and absent at the
//! merge base with the target branch. Earlier migrations are taken as already applied on
//! the clone. Both sides are listed from git trees, so names are compared byte for byte
//! as git stores them (no quoting of non-ASCII names).

use crate::config::Selection;
use crate::source::{SourceError, SourceTree};
use std::collections::HashSet;

/// The commit migrations are compared against, or `None` for "all are new".
pub async fn base_commit(
    tree: &dyn SourceTree,
    selection: &Selection,
) -> Result<Option<String>, SourceError> {
    match selection {
        Selection::All => Ok(None),
        Selection::SinceCommit(sha) => Ok(Some(sha.clone())),
        Selection::SinceBranch(branch) => tree.merge_base(branch).await.map(Some),
        Selection::MrBase => tree.merge_base("the MR's target branch").await.map(Some),
    }
}

/// The entries of `dir` at `base` (none when `base` is None): migrations already
/// applied on the clone, which [`super::discover_new`] leaves out unread.
pub async fn applied_at(
    tree: &dyn SourceTree,
    dir: &str,
    base: Option<&str>,
) -> Result<HashSet<String>, SourceError> {
    let Some(base) = base else {
        return Ok(HashSet::new());
    };
    Ok(tree
        .list(base, dir.trim_matches('/'))
        .await?
        .unwrap_or_default()
        .into_iter()
        .map(|e| e.name)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::file::LayoutChoice;
    use crate::migrations::discover_new;
    use crate::source::git::{test_repo, LocalRepo};

    fn git(dir: &std::path::Path, args: &[&str]) {
        let out = std::process::Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
    }

    #[tokio::test]
    async fn only_migrations_absent_at_the_merge_base_are_selected_even_with_non_ascii_names() {
        let (d, _) = test_repo(&[("db/migrations/0001_café.sql", "select 1;")]).await;
        let p = d.path();
        git(p, &["checkout", "-qb", "feature"]);
        std::fs::write(p.join("db/migrations/0002_b.sql"), "select 2;").unwrap();
        git(p, &["add", "."]);
        git(p, &["commit", "-qm", "head"]);
        let repo = LocalRepo::open(p, "HEAD").await.unwrap();

        let base = base_commit(&repo, &Selection::SinceBranch("main".into()))
            .await
            .unwrap()
            .unwrap();
        let new_since = |applied: HashSet<String>| {
            let repo = &repo;
            async move {
                let (_, ms) =
                    discover_new(repo, "db/migrations", LayoutChoice::Auto, 1 << 20, &applied)
                        .await
                        .unwrap();
                ms.into_iter().map(|m| m.entry).collect::<Vec<_>>()
            }
        };
        let applied = applied_at(&repo, "db/migrations", Some(&base))
            .await
            .unwrap();
        assert_eq!(
            new_since(applied).await,
            ["0002_b.sql"],
            "the café migration is at the base"
        );
        let none = applied_at(&repo, "db/migrations", None).await.unwrap();
        assert_eq!(new_since(none).await.len(), 2);

        let err = base_commit(&repo, &Selection::SinceBranch("nope".into()))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("fetch the target branch"), "{err}");
        let err = applied_at(
            &repo,
            "db/migrations",
            Some("0123456789abcdef0123456789abcdef01234567"),
        )
        .await
        .unwrap_err();
        assert!(matches!(err, SourceError::Git { .. }), "{err}");
    }
}
