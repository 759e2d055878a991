//! The requester's login role on a clone. The password arrives only as a SCRAM verifier
//! (what PostgreSQL stores anyway), so the engine never keeps the password itself. A
//! `restricted` role is a non-superuser that owns the database and every object in it
//! (reassigned from whichever roles owned them in the source), and may read statistics
//! and reset `pg_stat_statements`; otherwise the role is a superuser.

use super::server::SUPERUSER;
use super::PgError;

/// The SCRAM-SHA-256 verifier of a password, as `CREATE ROLE ... PASSWORD` takes it.
pub fn verifier(password: &str) -> String {
    postgres_protocol::password::scram_sha_256(password.as_bytes())
}

/// Creates (or re-creates, after a reset) the login role and hands it the database.
pub async fn grant_login(
    db: &tokio_postgres::Client,
    username: &str,
    verifier: &str,
    db_name: &str,
    restricted: bool,
) -> Result<(), PgError> {
    // Every step is built with format(%I, %L) on the server, so no name or verifier is
    // ever spliced into SQL by hand.
    let sql = r#"
DO $grant$
DECLARE
    who text := current_setting('preflight.username');
    owner_role regrole;
    r record;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = who) THEN
        EXECUTE format('CREATE ROLE %I LOGIN', who);
    END IF;
    EXECUTE format('ALTER ROLE %I LOGIN PASSWORD %L', who, current_setting('preflight.verifier'));
    IF current_setting('preflight.restricted')::boolean THEN
        EXECUTE format('ALTER ROLE %I NOSUPERUSER', who);
        -- Objects owned by other (non-built-in) roles: one REASSIGN per owner.
        FOR owner_role IN
            SELECT DISTINCT o FROM (
                SELECT relowner AS o FROM pg_class WHERE relnamespace NOT IN
                    (SELECT oid FROM pg_namespace WHERE nspname IN ('pg_catalog', 'information_schema', 'pg_toast'))
                UNION SELECT nspowner FROM pg_namespace
                UNION SELECT proowner FROM pg_proc
                UNION SELECT typowner FROM pg_type
                UNION SELECT datdba FROM pg_database WHERE datname = current_database()
            ) owners
            WHERE o >= 16384 -- not the bootstrap superuser, pg_database_owner or other built-in roles
              AND o <> (SELECT oid FROM pg_roles WHERE rolname = who)
              AND o IN (SELECT oid FROM pg_roles)
        LOOP
            EXECUTE format('REASSIGN OWNED BY %s TO %I', owner_role, who);
        END LOOP;
        -- Objects the bootstrap superuser owns outside the system schemas.
        FOR r IN
            SELECT c.oid::regclass AS name, c.relkind FROM pg_class c
            JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE c.relowner = 10 AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
              AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
              AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype = 'e')
        LOOP
            EXECUTE format('ALTER %s %s OWNER TO %I',
                CASE r.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW'
                     WHEN 'S' THEN 'SEQUENCE' WHEN 'f' THEN 'FOREIGN TABLE' ELSE 'TABLE' END,
                r.name, who);
        END LOOP;
        FOR r IN
            SELECT nspname FROM pg_namespace
            WHERE nspowner = 10 AND nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
              AND nspname NOT LIKE 'pg\_%'
        LOOP
            EXECUTE format('ALTER SCHEMA %I OWNER TO %I', r.nspname, who);
        END LOOP;
        EXECUTE format('ALTER DATABASE %I OWNER TO %I', current_database(), who);
        EXECUTE format('GRANT pg_read_all_stats TO %I', who);
        IF to_regprocedure('pg_stat_statements_reset(oid, oid, bigint)') IS NOT NULL THEN
            EXECUTE format('GRANT EXECUTE ON FUNCTION pg_stat_statements_reset(oid, oid, bigint) TO %I', who);
        END IF;
    ELSE
        EXECUTE format('ALTER ROLE %I SUPERUSER', who);
    END IF;
END
$grant$"#;
    if username == SUPERUSER {
        return Err(PgError::new(
            "create the clone's role",
            format!("username {username:?} is reserved"),
        ));
    }
    db.execute(
        "SELECT set_config('preflight.username', $1, false), \
                set_config('preflight.verifier', $2, false), \
                set_config('preflight.restricted', $3, false)",
        &[&username, &verifier, &restricted.to_string()],
    )
    .await
    .map_err(|e| PgError::pg("prepare the clone's role", e))?;
    db.batch_execute(sql)
        .await
        .map_err(|e| PgError::pg(format!("hand database {db_name:?} to role {username:?}"), e))?;
    db.batch_execute(
        "RESET preflight.username; RESET preflight.verifier; RESET preflight.restricted;",
    )
    .await
    .map_err(|e| PgError::pg("prepare the clone's role", e))
}
