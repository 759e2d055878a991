//! Generated datasets. The demo dataset: about `rows` accounts and a fifth as many
//! orders, shaped like a small production database; a few e-mail addresses repeat, so a
//! migration that adds a unique constraint on them fails the way it would in
//! production. The filler dataset: a table of about a given size, for benchmarks.

/// SQL that creates and fills the demo tables (run as the data owner).
pub fn demo_sql(rows: u64) -> String {
    let rows = rows.max(10);
    let orders = (rows / 5).max(1);
    let dup_every = (rows / 4).max(2);
    format!(
        "CREATE TABLE accounts (
             id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
             email text NOT NULL,
             plan text NOT NULL,
             created_at timestamptz NOT NULL
         );
         INSERT INTO accounts (email, plan, created_at)
         SELECT 'user' || (CASE WHEN g % {dup_every} = 0 THEN 1 ELSE g END) || '@example.com',
                (ARRAY['free', 'team', 'business'])[1 + g % 3],
                timestamptz '2026-01-01' - g * interval '1 minute'
         FROM generate_series(1, {rows}) AS g;
         CREATE TABLE orders (
             id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
             account_id bigint NOT NULL REFERENCES accounts (id),
             total_cents integer NOT NULL,
             created_at timestamptz NOT NULL
         );
         INSERT INTO orders (account_id, total_cents, created_at)
         SELECT 1 + (g * 7) % {rows}, (g * 37) % 10000,
                timestamptz '2026-01-01' - g * interval '1 second'
         FROM generate_series(1, {orders}) AS g;
         ANALYZE;"
    )
}

/// Bytes one filler row takes on disk (960 bytes of text plus tuple and page overhead).
const FILLER_ROW_BYTES: u64 = 1_000;

/// SQL that creates a `filler` table of about `size_mb` megabytes.
pub fn filler_sql(size_mb: u64) -> String {
    let rows = (size_mb * 1_000_000 / FILLER_ROW_BYTES).max(1);
    format!(
        "CREATE TABLE filler (id bigint PRIMARY KEY, payload text NOT NULL) \
             WITH (autovacuum_enabled = off);
         INSERT INTO filler SELECT g, repeat(md5(g::text), 30) FROM generate_series(1, {rows}) AS g;
         ANALYZE filler;"
    )
}
