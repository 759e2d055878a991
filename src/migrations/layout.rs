//! Migration layouts: numbered files (`0007_add_index.sql`, golang-migrate's
//! `7_add_index.up.sql`, dbmate's sectioned files), Flyway's `V7__add_index.sql`, and a
//! directory per migration holding `up.sql` (diesel and friends). Detected from the
//! directory's entries unless configuration names one.

use super::Migration;
use crate::config::file::LayoutChoice;
use std::cmp::Ordering;
use std::path::{Path, PathBuf};
use thiserror::Error;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Layout {
    Numbered,
    Flyway,
    Directory,
}

#[derive(Debug, Error)]
pub enum LayoutError {
    #[error("the migrations directory {0} does not exist in the checkout; set `migrations` for this database in the configuration")]
    MissingDir(PathBuf),
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{dir} mixes migration layouts ({found}); set `layout` for this database in the configuration")]
    Mixed { dir: PathBuf, found: String },
    #[error("two migrations in {dir} have version {version}: {a} and {b}")]
    DuplicateVersion {
        dir: PathBuf,
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
    sql_path: PathBuf,
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

fn classify(dir: &Path, name: &str, is_dir: bool) -> Option<Candidate> {
    let path = dir.join(name);
    if is_dir {
        let up = path.join("up.sql");
        return up.is_file().then(|| Candidate {
            layout: Layout::Directory,
            entry: name.to_string(),
            version: name.split('_').next().unwrap_or(name).to_string(),
            sql_path: up,
        });
    }
    if let Some(version) = flyway(name) {
        return Some(Candidate {
            layout: Layout::Flyway,
            entry: name.to_string(),
            version,
            sql_path: path,
        });
    }
    numbered(name).map(|version| Candidate {
        layout: Layout::Numbered,
        entry: name.to_string(),
        version,
        sql_path: path,
    })
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

/// dbmate keeps up and down in one file; only the `-- migrate:up` section applies.
fn up_section(sql: &str) -> String {
    let Some(start) = sql.find("-- migrate:up") else {
        return sql.to_string();
    };
    let body = &sql[start + "-- migrate:up".len()..];
    let end = body.find("-- migrate:down").unwrap_or(body.len());
    body[..end].trim_start_matches(|c| c != '\n').to_string()
}

/// Finds the migrations in `checkout/dir`, in the order they apply.
pub fn discover(
    checkout: &Path,
    dir: &Path,
    choice: LayoutChoice,
) -> Result<(Layout, Vec<Migration>), LayoutError> {
    let full = checkout.join(dir);
    if !full.is_dir() {
        return Err(LayoutError::MissingDir(dir.to_path_buf()));
    }
    let read_err = |source| LayoutError::Read {
        path: full.clone(),
        source,
    };
    let mut candidates = Vec::new();
    for entry in std::fs::read_dir(&full).map_err(read_err)? {
        let entry = entry.map_err(read_err)?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let is_dir = entry.file_type().map_err(read_err)?.is_dir();
        if let Some(c) = classify(&full, &name, is_dir) {
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
                        dir: dir.to_path_buf(),
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
                dir: dir.to_path_buf(),
                version: pair[0].version.clone(),
                a: pair[0].entry.clone(),
                b: pair[1].entry.clone(),
            });
        }
    }

    let mut migrations = Vec::new();
    for c in chosen {
        let text = std::fs::read_to_string(&c.sql_path).map_err(|source| LayoutError::Read {
            path: c.sql_path.clone(),
            source,
        })?;
        migrations.push(Migration {
            path: c
                .sql_path
                .strip_prefix(checkout)
                .unwrap_or(&c.sql_path)
                .to_path_buf(),
            entry: c.entry,
            version: c.version,
            sql: up_section(&text),
        });
    }
    Ok((layout, migrations))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (path, body) in files {
            let p = dir.path().join("m").join(path);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(p, body).unwrap();
        }
        dir
    }

    fn names(dir: &tempfile::TempDir, choice: LayoutChoice) -> (Layout, Vec<String>) {
        let (layout, ms) = discover(dir.path(), Path::new("m"), choice).unwrap();
        (layout, ms.iter().map(|m| m.name().to_string()).collect())
    }

    #[test]
    fn numbered_files_sort_numerically_and_skip_down_files() {
        let d = tree(&[
            ("10_c.sql", "c"),
            ("9_b.up.sql", "b"),
            ("9_b.down.sql", "x"),
            ("0001_a.sql", "a"),
            ("README.md", ""),
        ]);
        assert_eq!(
            names(&d, LayoutChoice::Auto),
            (
                Layout::Numbered,
                vec!["0001_a".into(), "9_b".into(), "10_c".into()]
            )
        );
    }

    #[test]
    fn flyway_versions_with_dots() {
        let d = tree(&[("V2__b.sql", ""), ("V1.10__c.sql", ""), ("V1.2__a.sql", "")]);
        assert_eq!(
            names(&d, LayoutChoice::Auto),
            (
                Layout::Flyway,
                vec!["V1.2__a".into(), "V1.10__c".into(), "V2__b".into()]
            )
        );
    }

    #[test]
    fn directory_per_migration() {
        let d = tree(&[
            ("2024-02-01-000000_b/up.sql", "b"),
            ("2024-02-01-000000_b/down.sql", "x"),
            ("2024-01-01-000000_a/up.sql", "a"),
        ]);
        let (layout, ms) = discover(d.path(), Path::new("m"), LayoutChoice::Auto).unwrap();
        assert_eq!(layout, Layout::Directory);
        assert_eq!(ms[0].entry, "2024-01-01-000000_a");
        assert_eq!(ms[0].path, Path::new("m/2024-01-01-000000_a/up.sql"));
        assert_eq!(ms[1].sql, "b");
    }

    #[test]
    fn dbmate_sections_keep_only_up() {
        let d = tree(&[(
            "20240101000000_t.sql",
            "-- migrate:up\ncreate table t();\n-- migrate:down\ndrop table t;\n",
        )]);
        let (_, ms) = discover(d.path(), Path::new("m"), LayoutChoice::Auto).unwrap();
        assert_eq!(ms[0].sql.trim(), "create table t();");
    }

    #[test]
    fn mixed_layouts_ask_for_configuration() {
        let d = tree(&[("V1__a.sql", ""), ("0002_b.sql", "")]);
        let err = discover(d.path(), Path::new("m"), LayoutChoice::Auto).unwrap_err();
        assert!(err.to_string().contains("set `layout`"), "{err}");
        assert_eq!(names(&d, LayoutChoice::Flyway).1, vec!["V1__a".to_string()]);
    }

    #[test]
    fn duplicate_versions_and_missing_dir_are_errors() {
        let d = tree(&[("1_a.sql", ""), ("01_b.sql", "")]);
        assert!(matches!(
            discover(d.path(), Path::new("m"), LayoutChoice::Auto),
            Err(LayoutError::DuplicateVersion { .. })
        ));
        assert!(matches!(
            discover(d.path(), Path::new("nope"), LayoutChoice::Auto),
            Err(LayoutError::MissingDir(_))
        ));
    }
}
