//! A migration file's own opt-out of its tool's transaction, as each tool reads it:
//! sqlx's first line `-- no-transaction`, dbmate's `-- migrate:up transaction:false`,
//! diesel's `run_in_transaction = false` in the `metadata.toml` beside `up.sql`. Layout
//! discovery records it on the [`super::Migration`]; the tool decides what it means.

/// A file's own opt-out of its tool's transaction: sqlx's first line `-- no-transaction`,
/// dbmate's `-- migrate:up transaction:false`.
pub fn opts_out_in_file(raw: &[u8]) -> bool {
    let text = String::from_utf8_lossy(raw);
    let first = text.lines().next().unwrap_or("").trim();
    first == "-- no-transaction"
        || text
            .lines()
            .map(str::trim)
            .filter(|l| l.starts_with("-- migrate:up"))
            .any(|l| l.split_whitespace().any(|w| w == "transaction:false"))
}

/// diesel's `metadata.toml` says `run_in_transaction = false`.
pub fn opts_out_in_metadata(toml: &[u8]) -> bool {
    String::from_utf8_lossy(toml).lines().any(|line| {
        let line = line.split('#').next().unwrap_or("");
        let Some((key, value)) = line.split_once('=') else {
            return false;
        };
        key.trim() == "run_in_transaction" && value.trim() == "false"
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_opt_out_the_way_each_tool_reads_it() {
        assert!(opts_out_in_file(
            b"-- no-transaction\nCREATE INDEX CONCURRENTLY i ON t (a);"
        ));
        assert!(!opts_out_in_file(b"SELECT 1;\n-- no-transaction\n"));
        assert!(opts_out_in_file(
            b"-- migrate:up transaction:false\nSELECT 1;\n-- migrate:down\n"
        ));
        assert!(!opts_out_in_file(
            b"-- migrate:up\nSELECT 1; -- transaction:false\n"
        ));
        assert!(opts_out_in_metadata(b"run_in_transaction = false\n"));
        assert!(!opts_out_in_metadata(
            b"# run_in_transaction = false\nrun_in_transaction = true"
        ));
    }
}
