//! Which database owns which tables, for decomposed databases (PF-X01): each database
//! in the trusted configuration lists its tables (`tables: [projects, "ci_*"]`); a table
//! matches a pattern by its bare name or `schema.name`, case-insensitively, where `*`
//! stands for any run of characters. A table no database lists belongs to none.

/// The ownership map: database names with their table patterns, in configuration order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TableOwners {
    owners: Vec<(String, Vec<String>)>,
}

/// A table pattern that is not one.
#[derive(Debug, thiserror::Error)]
#[error("database {database:?}: table pattern {pattern:?} must be letters, digits, '_', '.', '$' or '*'")]
pub struct BadPattern {
    pub database: String,
    pub pattern: String,
}

impl TableOwners {
    /// `(database, patterns)` pairs; patterns must be non-empty and made of letters,
    /// digits, `_`, `.`, `$` and `*`.
    pub fn new(owners: Vec<(String, Vec<String>)>) -> Result<Self, BadPattern> {
        for (db, patterns) in &owners {
            for p in patterns {
                let ok = !p.is_empty()
                    && p.chars()
                        .all(|c| c.is_alphanumeric() || matches!(c, '_' | '.' | '$' | '*'));
                if !ok {
                    return Err(BadPattern {
                        database: db.clone(),
                        pattern: p.clone(),
                    });
                }
            }
        }
        let owners = owners
            .into_iter()
            .map(|(db, ps)| (db, ps.iter().map(|p| p.to_lowercase()).collect()))
            .collect();
        Ok(TableOwners { owners })
    }

    /// The database that owns `table` (`name` or `schema.name`), the first listed when
    /// several patterns match.
    pub fn owner_of(&self, table: &str) -> Option<&str> {
        let table = table.to_lowercase();
        let bare = table.rsplit('.').next().unwrap_or(&table);
        self.owners
            .iter()
            .find(|(_, patterns)| {
                patterns
                    .iter()
                    .any(|p| glob(p, if p.contains('.') { &table } else { bare }))
            })
            .map(|(db, _)| db.as_str())
    }

    pub fn is_empty(&self) -> bool {
        self.owners.iter().all(|(_, p)| p.is_empty())
    }
}

/// `pattern` (with `*` for any run of characters) matches all of `text`.
fn glob(pattern: &str, text: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or("");
    let Some(mut rest) = text.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        return rest.is_empty();
    };
    for part in middle {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owners() -> TableOwners {
        TableOwners::new(vec![
            ("main".into(), vec!["projects".into(), "users".into()]),
            ("ci".into(), vec!["ci_*".into(), "p_ci_*_metadata".into()]),
            ("sec".into(), vec!["security.*".into()]),
        ])
        .unwrap()
    }

    #[test]
    fn tables_are_matched_by_name_pattern_and_schema() {
        let o = owners();
        assert_eq!(o.owner_of("projects"), Some("main"));
        assert_eq!(o.owner_of("public.Projects"), Some("main"));
        assert_eq!(o.owner_of("ci_builds"), Some("ci"));
        assert_eq!(o.owner_of("p_ci_builds_metadata"), Some("ci"));
        assert_eq!(o.owner_of("p_ci_builds_meta"), None);
        assert_eq!(o.owner_of("security.findings"), Some("sec"));
        assert_eq!(o.owner_of("findings"), None);
        assert_eq!(o.owner_of("projects_archive"), None);
        assert_eq!(o.owner_of("ci"), None);
    }

    #[test]
    fn bad_patterns_are_refused_with_the_database_named() {
        let err = TableOwners::new(vec![("ci".into(), vec!["ci_[a-z]".into()])])
            .unwrap_err()
            .to_string();
        assert!(err.contains("\"ci\"") && err.contains("ci_[a-z]"), "{err}");
        assert!(TableOwners::new(vec![("ci".into(), vec![String::new()])]).is_err());
    }

    #[test]
    fn glob_handles_stars_anywhere() {
        assert!(glob("*", ""));
        assert!(glob("a*", "a"));
        assert!(glob("*_x", "a_x"));
        assert!(!glob("*_x_x", "_x"));
        assert!(glob("a*b*c", "a_b_c"));
        assert!(!glob("a*b*c", "a_c_b"));
    }
}
