//! Who owns a clone's data. When a snapshot is built, everything in its database that a
//! non-built-in role or the bootstrap superuser owns is handed to one `preflight_owner`
//! role ([`prepare_owner`], run once, however many objects there are). When a clone
//! starts, that role simply becomes the requester's ([`grant_login`]: a rename, a
//! password, and for a `restricted` clone the right to read statistics; otherwise
//! superuser), which takes milliseconds at any size.
//!
//! The password arrives only as a SCRAM verifier (what PostgreSQL stores anyway), so the
//! engine never keeps the password itself.

use super::server::SUPERUSER;
use super::PgError;

/// The role that owns a snapshot's data; each clone hands it to its requester.
pub const OWNER_ROLE: &str = "preflight_owner";

/// The SCRAM-SHA-256 verifier of a password, as `CREATE ROLE ... PASSWORD` takes it.
pub fn verifier(password: &str) -> String {
    postgres_protocol::password::scram_sha_256(password.as_bytes())
}

/// Run on the database being snapshotted (as superuser): `preflight_owner` becomes the
/// owner of the database and of every object in it not owned by a built-in role.
const PREPARE_OWNER: &str = r#"
DO $prepare$
DECLARE
    owner_role regrole;
    r record;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'preflight_owner') THEN
        CREATE ROLE preflight_owner NOLOGIN;
    END IF;
    -- Objects of other (non-built-in) roles: one REASSIGN per owner.
    FOR owner_role IN
        SELECT DISTINCT o FROM (
            SELECT relowner AS o FROM pg_class
            UNION SELECT nspowner FROM pg_namespace
            UNION SELECT proowner FROM pg_proc
            UNION SELECT typowner FROM pg_type
            UNION SELECT datdba FROM pg_database WHERE datname = current_database()
        ) owners
        WHERE o >= 16384 -- not the bootstrap superuser, pg_database_owner or other built-ins
          AND o <> 'preflight_owner'::regrole
    LOOP
        EXECUTE format('REASSIGN OWNED BY %s TO preflight_owner', owner_role);
    END LOOP;
    -- What the bootstrap superuser owns outside the system schemas (not extension members).
    FOR r IN
        SELECT c.oid::regclass AS name, c.relkind FROM pg_class c
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relowner = 10 AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
          AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
          AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype = 'e')
    LOOP
        EXECUTE format('ALTER %s %s OWNER TO preflight_owner',
            CASE r.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW'
                 WHEN 'S' THEN 'SEQUENCE' WHEN 'f' THEN 'FOREIGN TABLE' ELSE 'TABLE' END,
            r.name);
    END LOOP;
    FOR r IN
        SELECT nspname FROM pg_namespace
        WHERE nspowner = 10 AND nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
          AND nspname NOT LIKE 'pg\_%'
    LOOP
        EXECUTE format('ALTER SCHEMA %I OWNER TO preflight_owner', r.nspname);
    END LOOP;
    EXECUTE format('ALTER DATABASE %I OWNER TO preflight_owner', current_database());
END
$prepare$"#;

/// Hands the database being snapshotted to [`OWNER_ROLE`] (see [`PREPARE_OWNER`]).
pub async fn prepare_owner(db: &tokio_postgres::Client) -> Result<(), PgError> {
    db.batch_execute(PREPARE_OWNER)
        .await
        .map_err(|e| PgError::pg("hand the data to the owner role", e))
}

/// Run on a clone: the role owning the snapshot's data (`preflight_owner`, or the
/// requester of the clone a snapshot was taken from) becomes the requester (or, when a
/// role of that name came with the data, its objects are reassigned to it and the old
/// owner can no longer log in). Parameters arrive through
/// session settings and every statement is built with format(%I, %L).
const GRANT_LOGIN: &str = r#"
DO $grant$
DECLARE
    who text := current_setting('preflight.username');
    owner text := current_setting('preflight.owner');
    f regprocedure;
BEGIN
    IF who = owner THEN
        NULL;
    ELSIF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = who) THEN
        EXECUTE format('REASSIGN OWNED BY %I TO %I', owner, who);
        EXECUTE format('ALTER ROLE %I NOLOGIN PASSWORD NULL', owner);
    ELSE
        EXECUTE format('ALTER ROLE %I RENAME TO %I', owner, who);
    END IF;
    EXECUTE format('ALTER ROLE %I LOGIN PASSWORD %L', who, current_setting('preflight.verifier'));
    IF current_setting('preflight.restricted')::boolean THEN
        EXECUTE format('ALTER ROLE %I NOSUPERUSER', who);
        EXECUTE format('GRANT pg_read_all_stats TO %I', who);
        -- Its arguments differ between majors (17 added minmax_only): every one there is.
        FOR f IN SELECT oid::regprocedure FROM pg_proc WHERE proname = 'pg_stat_statements_reset' LOOP
            EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO %I', f, who);
        END LOOP;
    ELSE
        EXECUTE format('ALTER ROLE %I SUPERUSER', who);
    END IF;
END
$grant$"#;

/// Makes the requester's login role the owner of the clone's database.
pub async fn grant_login(
    db: &tokio_postgres::Client,
    owner: &str,
    username: &str,
    verifier: &str,
    db_name: &str,
    restricted: bool,
) -> Result<(), PgError> {
    if username == SUPERUSER || username == OWNER_ROLE {
        return Err(PgError::new(
            "create the clone's role",
            format!("username {username:?} is reserved"),
        ));
    }
    db.execute(
        "SELECT set_config('preflight.username', $1, false), \
                set_config('preflight.verifier', $2, false), \
                set_config('preflight.restricted', $3, false), \
                set_config('preflight.owner', $4, false)",
        &[&username, &verifier, &restricted.to_string(), &owner],
    )
    .await
    .map_err(|e| PgError::pg("prepare the clone's role", e))?;
    db.batch_execute(GRANT_LOGIN)
        .await
        .map_err(|e| PgError::pg(format!("hand database {db_name:?} to role {username:?}"), e))
}
