//! Command mode: the team's own migration tool, run inside the box in an image trusted
//! configuration names, one new migration at a time, so every per-migration number and
//! finding works as for SQL files.
//!
//! - **alembic**: the new files of the versions directory are revisions; each says its
//!   `revision` and `down_revision`, which order them into a chain from the head's
//!   current one. Each step is `alembic upgrade <revision>`; its way back is
//!   `alembic downgrade <down_revision>` (or `base`).
//! - **django**: the new files of an app's `migrations` directory, in name order (the
//!   numbers Django gives them). Each step is `python3 manage.py migrate <app> <name>`;
//!   its way back is a migrate to the migration before it (or `zero`).
//!
//! The tool's bookkeeping (`alembic_version`, `django_migrations`) says what production
//! has applied; the clone has it, so the tool applies exactly the new ones. The box gets
//! the project's files as regular files written by the job from git objects (links and
//! submodules are refused, sizes bounded), mounted read-only; the tool reaches the clone
//! through the bridge's socket (libpq variables, and `DATABASE_URL` for tools that want
//! a URL).

pub use crate::config::sections::CommandSection;
use crate::migrations::Migration;
pub use crate::model::tool::CommandTool;
use crate::source::{Entry, EntryKind, SourceError, SourceTree};
use std::collections::HashSet;
use std::path::Path;

/// Why the new migrations or the project could not be taken from the MR's code. Most
/// are the MR's to fix (its author hears which file and why); a missing directory is the
/// configuration's; a git failure is infrastructure.
#[derive(Debug, thiserror::Error)]
pub enum DiscoveryError {
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error("the {what} directory {dir} does not exist in the MR's code")]
    NoDirectory { what: &'static str, dir: String },
    #[error("{path} says no alembic revision id")]
    NoRevision { path: String },
    #[error("{path} is not a Django migration name")]
    NotDjangoName { path: String },
    #[error("the new alembic revisions in {dir} form {count} branches; rehearse a linear history")]
    Branches { dir: String, count: usize },
    #[error("the new alembic revisions in {dir} do not form one chain; rehearse a linear history")]
    NotAChain { dir: String },
    #[error("{path:?} is not a plain name")]
    NotPlainName { path: String },
    #[error(
        "the project {project} has more than {PROJECT_MAX_FILES} files or {PROJECT_MAX_BYTES} \
         bytes; point command.project at the tool's own directory"
    )]
    ProjectTooLarge { project: String },
}

/// The most files and bytes of a project the job writes for the box.
const PROJECT_MAX_FILES: usize = 20_000;
const PROJECT_MAX_BYTES: u64 = 256 << 20;

impl CommandTool {
    /// The table the tool keeps what it applied in. It is the tool's, not the schema's:
    /// a way back leaves it (and the tool may have made it in the step), so the schema
    /// comparison leaves it out.
    pub fn bookkeeping(self) -> &'static str {
        match self {
            CommandTool::Alembic => "alembic_version",
            CommandTool::Django => "django_migrations",
        }
    }
}

/// A `command` section that cannot be run.
#[derive(Debug, thiserror::Error)]
pub enum SectionError {
    #[error("command.image is empty; name the image with the tool")]
    NoImage,
    #[error("command.project {0:?} must be a directory inside the repository")]
    ProjectOutside(String),
    #[error("command.app is needed for django: the app whose migrations these are")]
    NoApp,
    #[error("command.app {0:?} is not a Django app label (letters, digits, underscores)")]
    AppLabel(String),
}

impl CommandSection {
    /// Checks what the plan needs before anything runs.
    pub fn check(&self) -> Result<(), SectionError> {
        if self.image.trim().is_empty() {
            return Err(SectionError::NoImage);
        }
        if self.project.split('/').any(|p| p == "..") || self.project.starts_with('/') {
            return Err(SectionError::ProjectOutside(self.project.clone()));
        }
        match (self.tool, &self.app) {
            (CommandTool::Django, None) => Err(SectionError::NoApp),
            (CommandTool::Django, Some(app)) if !is_identifier(app) => {
                Err(SectionError::AppLabel(app.clone()))
            }
            _ => Ok(()),
        }
    }

    /// The command that takes `m` back to the version before it (its way back).
    pub fn step_down(&self, m: &Migration) -> Option<Vec<String>> {
        Some(self.to_version(false, m.previous.as_deref()?))
    }

    /// The command that applies `m`, run in the project's directory.
    pub fn step(&self, m: &Migration) -> Vec<String> {
        let target = match self.tool {
            CommandTool::Alembic => &m.version,
            CommandTool::Django => m.name(),
        };
        self.to_version(true, target)
    }

    /// The tool's command that moves the schema up (or back) to `target`.
    fn to_version(&self, up: bool, target: &str) -> Vec<String> {
        let words: Vec<&str> = match self.tool {
            CommandTool::Alembic => {
                vec!["alembic", if up { "upgrade" } else { "downgrade" }, target]
            }
            CommandTool::Django => vec![
                "python3",
                "manage.py",
                "migrate",
                "--no-input",
                self.app.as_deref().unwrap_or_default(),
                target,
            ],
        };
        words.into_iter().map(String::from).collect()
    }
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A Python string assigned to `name` at the start of a line: `revision = "ab12"` or
/// `down_revision: Union[str, None] = 'cd34'`; `Some(None)` for `= None`.
fn assigned(source: &str, name: &str) -> Option<Option<String>> {
    source.lines().find_map(|line| {
        let rest = line.strip_prefix(name)?;
        let rest = rest.trim_start();
        let rest = match rest.strip_prefix(':') {
            Some(annotated) => annotated.split_once('=')?.1,
            None => rest.strip_prefix('=')?,
        };
        let value = rest.trim();
        if value.starts_with("None") {
            return Some(None);
        }
        let quote = value.chars().next().filter(|q| *q == '"' || *q == '\'')?;
        let inner = &value[1..];
        let end = inner.find(quote)?;
        Some(Some(inner[..end].to_string()))
    })
}

/// A revision id as alembic writes them (and nothing a command line could misread).
fn is_revision(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Orders alembic revisions into one chain (each one's `down_revision` is the one before).
fn alembic_chain(
    dir: &str,
    mut found: Vec<(Migration, Option<String>)>,
) -> Result<Vec<Migration>, DiscoveryError> {
    let ids: HashSet<String> = found.iter().map(|(m, _)| m.version.clone()).collect();
    let mut chain = Vec::new();
    // The first new revision follows one the MR did not add (or none).
    let mut previous: Option<String> = None;
    let starts: Vec<usize> = (0..found.len())
        .filter(|i| !found[*i].1.as_ref().is_some_and(|d| ids.contains(d)))
        .collect();
    if starts.len() > 1 {
        return Err(DiscoveryError::Branches {
            dir: dir.to_string(),
            count: starts.len(),
        });
    }
    while !found.is_empty() {
        let next = match &previous {
            None => starts.first().copied(),
            Some(p) => found.iter().position(|(_, d)| d.as_deref() == Some(p)),
        };
        let Some(i) = next else {
            return Err(DiscoveryError::NotAChain {
                dir: dir.to_string(),
            });
        };
        let (m, _) = found.remove(i);
        previous = Some(m.version.clone());
        chain.push(m);
    }
    Ok(chain)
}

/// The Django migration before `name` in the app (applied or not), or `zero`.
fn django_previous(entries: &[Entry], name: &str) -> String {
    let mut names: Vec<&str> = entries
        .iter()
        .filter(|e| e.kind == EntryKind::File && e.name.ends_with(".py") && e.name != "__init__.py")
        .map(|e| e.name.as_str())
        .filter(|n| *n < name)
        .collect();
    names.sort();
    names
        .last()
        .map(|n| n.trim_end_matches(".py").to_string())
        .unwrap_or_else(|| "zero".into())
}

/// The new migrations in `dir` at the head (those not in `applied`), in the order the
/// tool applies them.
pub async fn discover(
    tree: &dyn SourceTree,
    dir: &str,
    section: &CommandSection,
    limit: u64,
    applied: &HashSet<String>,
) -> Result<Vec<Migration>, DiscoveryError> {
    let dir = dir.trim_matches('/');
    let entries =
        tree.list(tree.head(), dir)
            .await?
            .ok_or_else(|| DiscoveryError::NoDirectory {
                what: "migrations",
                dir: dir.to_string(),
            })?;
    let mut found = Vec::new();
    for e in &entries {
        if e.kind != EntryKind::File
            || !e.name.ends_with(".py")
            || e.name == "__init__.py"
            || applied.contains(&e.name)
        {
            continue;
        }
        let path = format!("{dir}/{}", e.name);
        let bytes = tree.blob(&e.oid, &path, limit).await?;
        let source = String::from_utf8_lossy(&bytes).into_owned();
        let stem = e.name.trim_end_matches(".py").to_string();
        let (version, down) = match section.tool {
            CommandTool::Alembic => {
                let revision = assigned(&source, "revision")
                    .flatten()
                    .filter(|r| is_revision(r))
                    .ok_or_else(|| DiscoveryError::NoRevision { path: path.clone() })?;
                let down = assigned(&source, "down_revision")
                    .flatten()
                    .filter(|r| is_revision(r));
                (revision, down)
            }
            CommandTool::Django => {
                let plain = stem.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
                if stem.is_empty() || !plain {
                    return Err(DiscoveryError::NotDjangoName { path });
                }
                (stem.clone(), None)
            }
        };
        let previous = match section.tool {
            CommandTool::Alembic => Some(down.clone().unwrap_or_else(|| "base".into())),
            CommandTool::Django => Some(django_previous(&entries, &e.name)),
        };
        let m = Migration {
            entry: e.name.clone(),
            version,
            path,
            sql: source,
            bytes,
            sectioned: false,
            no_transaction: false,
            down: None,
            previous,
        };
        found.push((m, down));
    }
    match section.tool {
        CommandTool::Alembic => alembic_chain(dir, found),
        CommandTool::Django => {
            let mut ms: Vec<Migration> = found.into_iter().map(|(m, _)| m).collect();
            ms.sort_by(|a, b| a.entry.cmp(&b.entry));
            Ok(ms)
        }
    }
}

/// A project's files, read from the MR's head: (path under the project, bytes).
pub type ProjectFiles = Vec<(std::path::PathBuf, Vec<u8>)>;

/// Reads the project's files at the head, regular files and directories only, refusing
/// links, submodules and a project past the size bounds.
pub async fn read_project(
    tree: &dyn SourceTree,
    project: &str,
) -> Result<ProjectFiles, DiscoveryError> {
    let root = project.trim_matches('/').trim_start_matches("./");
    let root = if root == "." { "" } else { root };
    // (the directory's path in the repository, its path under the project)
    let mut pending = vec![(root.to_string(), std::path::PathBuf::new())];
    let mut files = ProjectFiles::new();
    let mut bytes = 0u64;
    while let Some((dir, here)) = pending.pop() {
        let entries: Vec<Entry> =
            tree.list(tree.head(), &dir)
                .await?
                .ok_or_else(|| DiscoveryError::NoDirectory {
                    what: "project",
                    dir: dir.clone(),
                })?;
        for e in entries {
            let path = match dir.as_str() {
                "" => e.name.clone(),
                _ => format!("{dir}/{}", e.name),
            };
            if e.name.contains('/') || e.name == ".." || e.name == "." || e.name.is_empty() {
                return Err(DiscoveryError::NotPlainName { path });
            }
            match e.kind {
                EntryKind::Tree => pending.push((path, here.join(&e.name))),
                EntryKind::File => {
                    let too_large = || DiscoveryError::ProjectTooLarge {
                        project: root.to_string(),
                    };
                    if files.len() >= PROJECT_MAX_FILES {
                        return Err(too_large());
                    }
                    let left = PROJECT_MAX_BYTES.saturating_sub(bytes);
                    let content = match tree.blob(&e.oid, &path, left).await {
                        Err(SourceError::TooLarge { .. }) => return Err(too_large()),
                        other => other?,
                    };
                    bytes += content.len() as u64;
                    files.push((here.join(&e.name), content));
                }
                kind => return Err(SourceError::NotRegular { path, kind }.into()),
            }
        }
    }
    Ok(files)
}

/// Writes a project's files under `to`, readable by the box's user.
pub fn write_project(files: &ProjectFiles, to: &Path) -> Result<(), crate::exec::StageError> {
    for (rel, content) in files {
        let file = to.join(rel);
        if let Some(parent) = file.parent() {
            crate::exec::mkdir(parent, 0o755)?;
        }
        crate::exec::write_staged(&file, content)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(version: &str) -> Migration {
        Migration {
            entry: format!("{version}_x.py"),
            version: version.into(),
            path: String::new(),
            bytes: vec![],
            sql: String::new(),
            sectioned: false,
            no_transaction: false,
            down: None,
            previous: None,
        }
    }

    #[test]
    fn alembic_assignments_are_read_in_both_styles() {
        let src = "\"\"\"x\"\"\"\nrevision = 'b2c3'\ndown_revision: Union[str, None] = \"a1b2\"\n";
        assert_eq!(assigned(src, "revision"), Some(Some("b2c3".into())));
        assert_eq!(assigned(src, "down_revision"), Some(Some("a1b2".into())));
        assert_eq!(
            assigned("down_revision = None\n", "down_revision"),
            Some(None)
        );
        assert_eq!(assigned("# revision = 'x'\n", "revision"), None);
        assert!(!is_revision("a; rm -rf /"));
    }

    #[test]
    fn revisions_are_ordered_by_their_chain_and_branches_are_refused() {
        let chain = alembic_chain(
            "versions",
            vec![
                (m("c3"), Some("b2".into())),
                (m("b2"), Some("a1".into())),
                (m("d4"), Some("c3".into())),
            ],
        )
        .unwrap();
        let order: Vec<&str> = chain.iter().map(|m| m.version.as_str()).collect();
        assert_eq!(order, ["b2", "c3", "d4"]);
        let branches = alembic_chain(
            "versions",
            vec![(m("b2"), Some("a1".into())), (m("x9"), Some("a1".into()))],
        );
        assert!(matches!(
            branches.unwrap_err(),
            DiscoveryError::Branches { count: 2, .. }
        ));
    }
}
