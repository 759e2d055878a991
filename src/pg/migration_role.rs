//! The role a database's migrations run as, mirroring the one production migrates with,
//! and the settings production's runner starts each session with. Both come from trusted
//! configuration (`databases[].role`, `databases[].session`), never from the MR.
//!
//! - `restricted` (the default): the data's owner, no superuser (Database Lab's
//!   `restricted` clone).
//! - `superuser: true`: a superuser, as many teams migrate. It can run programs on the
//!   server, so it is only offered by an engine that confines its clone servers.
//! - an owner with `attributes` (CREATEROLE, BYPASSRLS, ...) and `member_of` roles: the
//!   clone is asked for as a superuser, the trace's event trigger is installed, then the
//!   role is given its memberships and attributes and stops being a superuser
//!   ([`shape`]) before any migration runs.
//!
//! A session setting reaches the clone in the startup packet of every session the box
//! opens (after the client's own, so it wins), exactly as if the runner had set it.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A role attribute an owner may have besides owning the data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum RoleAttribute {
    Createdb,
    Createrole,
    Replication,
    Bypassrls,
}

impl RoleAttribute {
    /// Its keyword in `ALTER ROLE`.
    pub fn keyword(self) -> &'static str {
        match self {
            RoleAttribute::Createdb => "CREATEDB",
            RoleAttribute::Createrole => "CREATEROLE",
            RoleAttribute::Replication => "REPLICATION",
            RoleAttribute::Bypassrls => "BYPASSRLS",
        }
    }
}

/// `databases[].role` as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RoleSection {
    pub superuser: bool,
    pub attributes: Vec<RoleAttribute>,
    pub member_of: Vec<String>,
}

/// The migration role, checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum MigrationRole {
    Restricted,
    Superuser,
    Owner {
        attributes: Vec<RoleAttribute>,
        member_of: Vec<String>,
    },
}

/// A database's `role` or `session` section says something PostgreSQL cannot do.
#[derive(Debug, PartialEq, thiserror::Error)]
pub enum SettingError {
    #[error(
        "role: a superuser has every attribute and membership already; give \
         `superuser: true` alone, or attributes and member_of without it"
    )]
    SuperuserWithMore,
    #[error("role.member_of: {0:?} is not a role name (1 to 63 characters)")]
    RoleName(String),
    #[error(
        "session: {0:?} is not a setting name; use a PostgreSQL setting (statement_timeout) \
         or a custom one (myapp.tenant)"
    )]
    SessionName(String),
    #[error("session: the value of {0} holds a NUL character")]
    SessionNul(String),
}

impl MigrationRole {
    /// The role `section` describes; `restricted` is the engine section's older switch
    /// (`engine.restricted: false` means a superuser for every database).
    pub fn from_section(
        section: RoleSection,
        restricted: bool,
    ) -> Result<MigrationRole, SettingError> {
        let RoleSection {
            superuser,
            attributes,
            member_of,
        } = section;
        if superuser && !(attributes.is_empty() && member_of.is_empty()) {
            return Err(SettingError::SuperuserWithMore);
        }
        if let Some(bad) = member_of
            .iter()
            .find(|r| r.is_empty() || r.len() > 63 || r.contains('\0'))
        {
            return Err(SettingError::RoleName(bad.clone()));
        }
        Ok(
            match (
                superuser || !restricted,
                attributes.is_empty() && member_of.is_empty(),
            ) {
                (true, _) => MigrationRole::Superuser,
                (false, true) => MigrationRole::Restricted,
                (false, false) => MigrationRole::Owner {
                    attributes,
                    member_of,
                },
            },
        )
    }

    /// Whether the clone is asked for as restricted (no superuser at any point).
    pub fn restricted_clone(&self) -> bool {
        matches!(self, MigrationRole::Restricted)
    }

    /// Its kind, for the public note (member roles are named only in the full report).
    pub fn kind(&self) -> &'static str {
        match self {
            MigrationRole::Restricted => "restricted",
            MigrationRole::Superuser => "superuser",
            MigrationRole::Owner { .. } => "owner",
        }
    }

    /// In words, for the full report and the job log.
    pub fn describe(&self) -> String {
        match self {
            MigrationRole::Restricted => "the data's owner, no superuser".into(),
            MigrationRole::Superuser => "a superuser".into(),
            MigrationRole::Owner {
                attributes,
                member_of,
            } => {
                let mut parts = vec!["the data's owner".to_string()];
                parts.extend(attributes.iter().map(|a| a.keyword().to_string()));
                if !member_of.is_empty() {
                    parts.push(format!("member of {}", member_of.join(", ")));
                }
                parts.join(", ")
            }
        }
    }
}

/// Checks `databases[].session`: names of settings (core or custom `prefix.name`),
/// values without NUL.
pub fn session_settings(
    map: BTreeMap<String, String>,
) -> Result<Vec<(String, String)>, SettingError> {
    let reserved = ["user", "database", "replication", "options"];
    for (name, value) in &map {
        let mut chars = name.chars();
        let valid = name.len() <= 63
            && matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
            && !name.ends_with('.');
        if !valid || reserved.contains(&name.to_ascii_lowercase().as_str()) {
            return Err(SettingError::SessionName(name.clone()));
        }
        if value.contains('\0') {
            return Err(SettingError::SessionNul(name.clone()));
        }
    }
    Ok(map.into_iter().collect())
}

/// Run as the (still superuser) migration role: memberships, then the grants the
/// observer needs, then the attributes with NOSUPERUSER last (after it, the role could
/// grant nothing more). Names arrive as JSON in a session setting and every statement is
/// built with format(%I).
const SHAPE: &str = r#"
DO $shape$
DECLARE
    who text := current_user;
    r text;
    f regprocedure;
BEGIN
    FOR r IN SELECT jsonb_array_elements_text(current_setting('preflight.member_of')::jsonb) LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
            RAISE EXCEPTION 'role % named in role.member_of does not exist in the clone', r
                USING HINT = 'production''s roles come with the snapshot; check the name';
        END IF;
        EXECUTE format('GRANT %I TO %I', r, who);
    END LOOP;
    EXECUTE format('GRANT pg_read_all_stats TO %I', who);
    -- Its arguments differ between majors (17 added minmax_only): every one there is.
    FOR f IN SELECT oid::regprocedure FROM pg_proc WHERE proname = 'pg_stat_statements_reset' LOOP
        EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO %I', f, who);
    END LOOP;
    EXECUTE format('ALTER ROLE %I NOSUPERUSER %s', who, current_setting('preflight.attributes'));
END
$shape$"#;

/// Why the migration role could not be given production's privileges.
#[derive(Debug, thiserror::Error)]
pub enum RoleError {
    #[error("cannot hand the role's memberships to the server: {0}")]
    Members(#[from] serde_json::Error),
    #[error("cannot give the migration role production's privileges: {0}")]
    Shape(#[from] tokio_postgres::Error),
}

/// Makes the connected superuser into the [`MigrationRole::Owner`] production has; no-op
/// for the other roles.
pub async fn shape(db: &tokio_postgres::Client, role: &MigrationRole) -> Result<(), RoleError> {
    let MigrationRole::Owner {
        attributes,
        member_of,
    } = role
    else {
        return Ok(());
    };
    let members = serde_json::to_string(member_of)?;
    let keywords: Vec<&str> = attributes.iter().map(|a| a.keyword()).collect();
    db.execute(
        "SELECT set_config('preflight.member_of', $1, false), \
                set_config('preflight.attributes', $2, false)",
        &[&members, &keywords.join(" ")],
    )
    .await?;
    db.batch_execute(SHAPE).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn section(yaml: &str) -> RoleSection {
        serde_yaml::from_str(yaml).unwrap()
    }

    #[test]
    fn the_role_follows_the_section() {
        assert_eq!(
            MigrationRole::from_section(RoleSection::default(), true),
            Ok(MigrationRole::Restricted)
        );
        assert_eq!(
            MigrationRole::from_section(RoleSection::default(), false),
            Ok(MigrationRole::Superuser)
        );
        assert_eq!(
            MigrationRole::from_section(section("superuser: true"), true),
            Ok(MigrationRole::Superuser)
        );
        let owner = MigrationRole::from_section(
            section("attributes: [CREATEROLE, BYPASSRLS]\nmember_of: [app_admin]"),
            true,
        )
        .unwrap();
        assert_eq!(
            owner.describe(),
            "the data's owner, CREATEROLE, BYPASSRLS, member of app_admin"
        );
        assert!(!owner.restricted_clone());
        let both = MigrationRole::from_section(section("superuser: true\nmember_of: [x]"), true);
        assert_eq!(both, Err(SettingError::SuperuserWithMore));
        assert!(serde_yaml::from_str::<RoleSection>("attributes: [SUPERUSER]").is_err());
    }

    #[test]
    fn session_setting_names_are_checked() {
        let ok = session_settings(BTreeMap::from([
            ("lemmy.protocol_and_hostname".into(), "https://x".into()),
            ("search_path".into(), "app, public".into()),
        ]))
        .unwrap();
        assert_eq!(ok.len(), 2);
        for bad in ["user", "options", "a b", "x;drop", "", "lemmy."] {
            let map = BTreeMap::from([(bad.to_string(), "v".to_string())]);
            assert!(session_settings(map).is_err(), "{bad}");
        }
    }
}
