//! Migration layouts: numbered files (`0007_add_index.sql`, golang-migrate's
//! `7_add_index.up.sql`, dbmate's sectioned files), Flyway's `V7__add_index.sql`, and a
//! directory per migration holding `up.sql` (diesel and friends). Detected from the
//! directory's entries unless configuration names one.
//!
//! Everything is read from the MR's head commit through [`SourceTree`]: entries from its
//! tree, SQL from blobs. A link or submodule in the migrations directory (or the
//! directory itself being one) is refused by name before anything runs.

use super::Migration;
use crate::config::file::LayoutChoice;
use crate::source::{entry_at, Entry, EntryKind, SourceError, SourceTree};
use std::cmp::Ordering;
use std::collections::HashSet;
use thiserror::Error;

pub use crate::model::tool::Layout;

#[derive(Debug, Error)]
pub enum LayoutError {
    #[error("the migrations directory {0} does not exist in the MR's code; set `migrations` for this database in the configuration")]
    MissingDir(String),
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error("{dir} mixes migration layouts ({found}); set `layout` for this database in the configuration")]
    Mixed { dir: String, found: String },
    #[error("two migrations in {dir} have version {version}: {a} and {b}")]
    DuplicateVersion {
        dir: String,
        version: String,
        a: String,
        b: String,
    },
}

/// A directory entry recognised as a migration, before its SQL is read.
struct Candidate {
    layout: Layout,
    entry: String,
    version: String,
    /// The SQL file's path in the repository and its blob.
    sql_path: String,
    oid: String,
    /// diesel's `metadata.toml` beside `up.sql`: its path and blob.
    metadata: Option<(String, String)>,
    /// The down file (diesel's `down.sql`, a `.down.sql` beside a `.up.sql`): path, blob.
    down: Option<(String, String)>,
}

fn numbered(name: &str) -> Option<String> {
    let digits: String = name.chars().take_while(|c| c.is_ascii_digit()).collect();
    let rest = &name[digits.len()..];
    let is_sql = name.ends_with(".sql") && !name.ends_with(".down.sql");
    (!digits.is_empty() && is_sql && (rest.starts_with('_') || rest.starts_with('-')))
        .then_some(digits)
}

fn flyway(name: &str) -> Option<String> {
    let rest = name.strip_prefix('V')?;
    let (version, desc) = rest.split_once("__")?;
    let ok = !version.is_empty()
        && version
            .chars()
            .all(|c| c.is_ascii_digit() || c == '.' || c == '_')
        && desc.ends_with(".sql");
    ok.then(|| version.replace('_', "."))
}

/// Refuses links, submodules and anything else that is not a file or directory.
fn refuse_non_regular(dir: &str, entries: &[Entry]) -> Result<(), SourceError> {
    match entries
        .iter()
        .find(|e| !matches!(e.kind, EntryKind::File | EntryKind::Tree))
    {
        Some(e) => Err(SourceError::NotRegular {
            path: format!("{dir}/{}", e.name),
            kind: e.kind,
        }),
        None => Ok(()),
    }
}

/// `applied` entries (present at the merge base) are classified by name alone: they are
/// never read, so a directory of them is not listed either.
async fn classify(
    tree: &dyn SourceTree,
    dir: &str,
    entry: &Entry,
    applied: &HashSet<String>,
) -> Result<Option<Candidate>, SourceError> {
    let path = format!("{dir}/{}", entry.name);
    let name = entry.name.as_str();
    if entry.kind == EntryKind::Tree && applied.contains(name) {
        return Ok(Some(Candidate {
            layout: Layout::Directory,
            entry: name.to_string(),
            version: name.split('_').next().unwrap_or(name).to_string(),
            sql_path: format!("{path}/up.sql"),
            oid: String::new(),
            metadata: None,
            down: None,
        }));
    }
    if entry.kind == EntryKind::Tree {
        let inner = tree.list(tree.head(), &path).await?.unwrap_or_default();
        refuse_non_regular(&path, &inner)?;
        let file = |name: &str| {
            inner
                .iter()
                .find(|e| e.name == name && e.kind == EntryKind::File)
        };
        let metadata =
            file("metadata.toml").map(|m| (format!("{path}/metadata.toml"), m.oid.clone()));
        let down = file("down.sql").map(|d| (format!("{path}/down.sql"), d.oid.clone()));
        return Ok(file("up.sql").map(|up| Candidate {
            layout: Layout::Directory,
            entry: name.to_string(),
            version: name.split('_').next().unwrap_or(name).to_string(),
            sql_path: format!("{path}/up.sql"),
            oid: up.oid.clone(),
            metadata,
            down,
        }));
    }
    let candidate = |layout, version| Candidate {
        layout,
        entry: name.to_string(),
        version,
        sql_path: path.clone(),
        oid: entry.oid.clone(),
        metadata: None,
        down: None,
    };
    if let Some(version) = flyway(name) {
        return Ok(Some(candidate(Layout::Flyway, version)));
    }
    Ok(numbered(name).map(|version| candidate(Layout::Numbered, version)))
}

/// A version as numbers, component by component (`01` and `1` are the same version).
fn version_key(v: &str) -> Vec<u128> {
    v.split(['.', '-'])
        .map(|p| p.parse::<u128>().unwrap_or(u128::MAX))
        .collect()
}

/// Orders versions the way each tool does: numerically component by component.
fn compare_versions(a: &str, b: &str) -> Ordering {
    version_key(a).cmp(&version_key(b)).then_with(|| a.cmp(b))
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// dbmate keeps up and down in one file; only the `-- migrate:up` section applies. Works
/// on bytes, so a file that is not UTF-8 reaches PostgreSQL unchanged.
fn up_section(sql: &[u8]) -> Vec<u8> {
    const UP: &[u8] = b"-- migrate:up";
    let Some(start) = find(sql, UP) else {
        return sql.to_vec();
    };
    let body = &sql[start + UP.len()..];
    let end = find(body, b"-- migrate:down").unwrap_or(body.len());
    let body = &body[..end];
    let line_end = body.iter().position(|b| *b == b'\n').unwrap_or(body.len());
    body[line_end..].to_vec()
}

/// dbmate's `-- migrate:down` section, when it holds anything but blanks and comments.
fn down_section(sql: &[u8]) -> Option<Vec<u8>> {
    const DOWN: &[u8] = b"-- migrate:down";
    let body = &sql[find(sql, DOWN)? + DOWN.len()..];
    let line_end = body.iter().position(|b| *b == b'\n').unwrap_or(body.len());
    let body = body[line_end..].to_vec();
    let has_sql = String::from_utf8_lossy(&body).lines().any(|l| {
        let l = l.trim();
        !l.is_empty() && !l.starts_with("--")
    });
    has_sql.then_some(body)
}

/// The `.down.sql` file beside a `.up.sql` entry, if the directory has one.
fn down_beside(dir: &str, entry: &str, entries: &[Entry]) -> Option<(String, String)> {
    let name = format!("{}.down.sql", entry.strip_suffix(".up.sql")?);
    entries
        .iter()
        .find(|e| e.name == name && e.kind == EntryKind::File)
        .map(|e| (format!("{dir}/{name}"), e.oid.clone()))
}

fn down_of(path: String, bytes: Vec<u8>) -> super::Down {
    super::Down {
        path,
        sql: String::from_utf8_lossy(&bytes).into_owned(),
        bytes,
    }
}

/// Finds every migration in `dir` at the MR's head, in the order they apply, refusing
/// any file over `limit` bytes.
pub async fn discover(
    tree: &dyn SourceTree,
    dir: &str,
    choice: LayoutChoice,
    limit: u64,
) -> Result<(Layout, Vec<Migration>), LayoutError> {
    discover_new(tree, dir, choice, limit, &HashSet::new()).await
}

/// Like [`discover`], but leaves out the `applied` entries (those at the merge base)
/// without reading them: a project with thousands of migrations costs one listing,
/// not thousands of blob reads.
pub async fn discover_new(
    tree: &dyn SourceTree,
    dir: &str,
    choice: LayoutChoice,
    limit: u64,
    applied: &HashSet<String>,
) -> Result<(Layout, Vec<Migration>), LayoutError> {
    let dir = dir.trim_matches('/');
    match entry_at(tree, tree.head(), dir).await? {
        None => return Err(LayoutError::MissingDir(dir.to_string())),
        Some(EntryKind::Tree) => {}
        Some(kind) => {
            return Err(SourceError::NotRegular {
                path: dir.to_string(),
                kind,
            }
            .into())
        }
    }
    let entries = tree.list(tree.head(), dir).await?.unwrap_or_default();
    refuse_non_regular(dir, &entries)?;
    let mut candidates = Vec::new();
    for entry in &entries {
        if let Some(mut c) = classify(tree, dir, entry, applied).await? {
            c.down = c.down.or_else(|| down_beside(dir, &c.entry, &entries));
            candidates.push(c);
        }
    }

    let layout = match choice {
        LayoutChoice::Numbered => Layout::Numbered,
        LayoutChoice::Flyway => Layout::Flyway,
        LayoutChoice::Directory => Layout::Directory,
        LayoutChoice::Auto => {
            let mut found: Vec<Layout> = candidates.iter().map(|c| c.layout).collect();
            found.sort_by_key(|l| *l as u8);
            found.dedup();
            match found.as_slice() {
                [] => Layout::Numbered,
                [one] => *one,
                many => {
                    return Err(LayoutError::Mixed {
                        dir: dir.to_string(),
                        found: many
                            .iter()
                            .map(|l| format!("{l:?}").to_lowercase())
                            .collect::<Vec<_>>()
                            .join(", "),
                    })
                }
            }
        }
    };

    let mut chosen: Vec<Candidate> = candidates
        .into_iter()
        .filter(|c| c.layout == layout)
        .collect();
    chosen.sort_by(|a, b| compare_versions(&a.version, &b.version).then(a.entry.cmp(&b.entry)));
    for pair in chosen.windows(2) {
        if version_key(&pair[0].version) == version_key(&pair[1].version) {
            return Err(LayoutError::DuplicateVersion {
                dir: dir.to_string(),
                version: pair[0].version.clone(),
                a: pair[0].entry.clone(),
                b: pair[1].entry.clone(),
            });
        }
    }

    let mut migrations = Vec::new();
    for c in chosen.into_iter().filter(|c| !applied.contains(&c.entry)) {
        let raw = tree.blob(&c.oid, &c.sql_path, limit).await?;
        let mut no_transaction = super::opt_out::opts_out_in_file(&raw);
        if let Some((path, oid)) = &c.metadata {
            let toml = tree.blob(oid, path, limit).await?;
            no_transaction |= super::opt_out::opts_out_in_metadata(&toml);
        }
        let bytes = up_section(&raw);
        let sectioned = bytes.len() != raw.len();
        let down = match &c.down {
            Some((path, oid)) => Some(down_of(path.clone(), tree.blob(oid, path, limit).await?)),
            None if sectioned => down_section(&raw).map(|b| down_of(c.sql_path.clone(), b)),
            None => None,
        };
        migrations.push(Migration {
            sql: String::from_utf8_lossy(&bytes).into_owned(),
            sectioned,
            no_transaction,
            down,
            previous: None,
            bytes,
            path: c.sql_path,
            entry: c.entry,
            version: c.version,
        });
    }
    Ok((layout, migrations))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::git::test_repo;

    async fn names(files: &[(&str, &str)], choice: LayoutChoice) -> (Layout, Vec<String>) {
        let (_dir, repo) = test_repo(files).await;
        let (layout, ms) = discover(&repo, "m", choice, 1 << 20).await.unwrap();
        (layout, ms.iter().map(|m| m.name().to_string()).collect())
    }

    #[tokio::test]
    async fn numbered_files_sort_numerically_and_skip_down_files() {
        let files = [
            ("m/10_c.sql", "c"),
            ("m/9_b.up.sql", "b"),
            ("m/9_b.down.sql", "x"),
            ("m/0001_a.sql", "a"),
            ("m/README.md", ""),
        ];
        assert_eq!(
            names(&files, LayoutChoice::Auto).await,
            (
                Layout::Numbered,
                vec!["0001_a".into(), "9_b".into(), "10_c".into()]
            )
        );
    }

    #[tokio::test]
    async fn flyway_versions_with_dots() {
        let files = [
            ("m/V2__b.sql", ""),
            ("m/V1.10__c.sql", ""),
            ("m/V1.2__a.sql", ""),
        ];
        assert_eq!(
            names(&files, LayoutChoice::Auto).await,
            (
                Layout::Flyway,
                vec!["V1.2__a".into(), "V1.10__c".into(), "V2__b".into()]
            )
        );
    }

    #[tokio::test]
    async fn directory_per_migration() {
        let (_d, repo) = test_repo(&[
            ("m/2024-02-01-000000_b/up.sql", "b"),
            ("m/2024-02-01-000000_b/down.sql", "x"),
            ("m/2024-01-01-000000_a/up.sql", "a"),
        ])
        .await;
        let (layout, ms) = discover(&repo, "m", LayoutChoice::Auto, 1 << 20)
            .await
            .unwrap();
        assert_eq!(layout, Layout::Directory);
        assert_eq!(ms[0].entry, "2024-01-01-000000_a");
        assert_eq!(ms[0].path, "m/2024-01-01-000000_a/up.sql");
        assert_eq!(ms[1].sql, "b");
        assert_eq!(ms[0].down, None);
        let down = ms[1].down.as_ref().unwrap();
        assert_eq!(
            (down.path.as_str(), down.sql.as_str()),
            ("m/2024-02-01-000000_b/down.sql", "x")
        );
    }

    #[tokio::test]
    async fn a_down_file_beside_an_up_file_is_its_way_back() {
        let (_d, repo) = test_repo(&[
            ("m/9_b.up.sql", "b"),
            ("m/9_b.down.sql", "drop b"),
            ("m/10_c.up.sql", "c"),
        ])
        .await;
        let (_, ms) = discover(&repo, "m", LayoutChoice::Auto, 1 << 20)
            .await
            .unwrap();
        assert_eq!(ms[0].down.as_ref().unwrap().path, "m/9_b.down.sql");
        assert_eq!(ms[0].down.as_ref().unwrap().sql, "drop b");
        assert_eq!(ms[1].down, None);
    }

    #[tokio::test]
    async fn dbmate_sections_keep_only_up() {
        let (_d, repo) = test_repo(&[(
            "m/20240101000000_t.sql",
            "-- migrate:up\ncreate table t();\n-- migrate:down\ndrop table t;\n",
        )])
        .await;
        let (_, ms) = discover(&repo, "m", LayoutChoice::Auto, 1 << 20)
            .await
            .unwrap();
        assert_eq!(ms[0].sql.trim(), "create table t();");
        assert_eq!(ms[0].down.as_ref().unwrap().sql.trim(), "drop table t;");
        assert_eq!(
            down_section(b"-- migrate:up\nx;\n-- migrate:down\n-- nothing\n"),
            None
        );
    }

    #[tokio::test]
    async fn mixed_layouts_ask_for_configuration() {
        let files = [("m/V1__a.sql", ""), ("m/0002_b.sql", "")];
        let (_d, repo) = test_repo(&files).await;
        let err = discover(&repo, "m", LayoutChoice::Auto, 1 << 20)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("set `layout`"), "{err}");
        assert_eq!(
            names(&files, LayoutChoice::Flyway).await.1,
            vec!["V1__a".to_string()]
        );
    }

    #[tokio::test]
    async fn duplicate_versions_missing_dir_and_oversized_files_are_errors() {
        let (_d, repo) = test_repo(&[("m/1_a.sql", "select 1;"), ("m/01_b.sql", "")]).await;
        assert!(matches!(
            discover(&repo, "m", LayoutChoice::Auto, 1 << 20).await,
            Err(LayoutError::DuplicateVersion { .. })
        ));
        assert!(matches!(
            discover(&repo, "nope", LayoutChoice::Auto, 1 << 20).await,
            Err(LayoutError::MissingDir(_))
        ));
        let (_d, repo) = test_repo(&[("m/1_a.sql", "select 1;")]).await;
        let err = discover(&repo, "m", LayoutChoice::Auto, 4)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("m/1_a.sql"), "{err}");
        assert!(err.to_string().contains("max_migration_bytes"), "{err}");
    }

    #[tokio::test]
    async fn applied_migrations_are_left_out_unread() {
        let files = [
            ("m/0001_old_and_big.sql", "x".repeat(100)),
            ("m/0002_old_dir/up.sql", "y".repeat(100)),
            ("m/0003_new.sql", "ok".to_string()),
        ];
        let files: Vec<(&str, &str)> = files.iter().map(|(p, b)| (*p, b.as_str())).collect();
        let (_dir, repo) = test_repo(&files).await;
        let applied: HashSet<String> = ["0001_old_and_big.sql", "0002_old_dir"]
            .into_iter()
            .map(String::from)
            .collect();
        // The applied ones are over the 4-byte limit: reading them would fail.
        let (_, ms) = discover_new(&repo, "m", LayoutChoice::Numbered, 4, &applied)
            .await
            .unwrap();
        let names: Vec<&str> = ms.iter().map(|m| m.entry.as_str()).collect();
        assert_eq!(names, ["0003_new.sql"]);
    }
}
