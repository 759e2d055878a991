//! The note a reviewer reads for a project-shaped MR: the forum fixture
//! (`tests/fixtures/forum`: eleven migrations in diesel's layout, each file one transaction,
//! on a generated dataset, as its team would run them with a superuser role), rehearsed
//! through `preflight run` with a real PostgreSQL and a real box.
//!
//! It holds what 18 real migrations showed that no synthetic case did: the note stays
//! within 40 finding rows and shows every migration with a cause, withholds nothing
//! (counts of what it left out included), and each cause points where it should: the
//! `REINDEX` that rewrote, the statement that renamed on its own table, numbers as the
//! file counts them, the table a data statement writes.

mod common;

use common::*;
use serde_json::Value;
use std::path::Path;

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/forum");

/// The fixture's migrations as (path under db/migrations, text).
fn migrations() -> Vec<(String, String)> {
    let dir = Path::new(FIXTURE).join("migrations");
    let mut out = Vec::new();
    let mut versions: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    versions.sort();
    for v in versions {
        for file in ["up.sql", "down.sql"] {
            let text = std::fs::read_to_string(dir.join(&v).join(file)).unwrap();
            out.push((format!("{v}/{file}"), text));
        }
    }
    out
}

fn migration<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["databases"][0]["migrations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == name)
        .unwrap_or_else(|| panic!("no migration {name}"))
}

fn causes<'a>(m: &'a Value, id: &str) -> Vec<&'a Value> {
    m["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["id"] == id)
        .collect()
}

/// The statement a cause points at: its number in the file and its line.
fn at(f: &Value) -> (u64, u64) {
    (
        f["statement"]["number"].as_u64().unwrap_or(0),
        f["statement"]["line"].as_u64().unwrap_or(0),
    )
}

#[test]
fn a_project_shaped_mr_gets_a_note_a_reviewer_can_act_on() {
    let seed = std::fs::read_to_string(Path::new(FIXTURE).join("seed.sql")).unwrap();
    let files = migrations();
    let files: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, t)| (p.as_str(), t.as_str()))
        .collect();
    let (code, note, report) =
        rehearse_files(&seed, &files, "role: {superuser: true}, session: {}");
    let ran: Vec<(&str, &str)> = report["databases"][0]["migrations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["name"].as_str().unwrap(), m["outcome"].as_str().unwrap()))
        .collect();
    assert_eq!(ran.len(), 11, "{ran:?}");
    assert!(
        ran.iter().all(|(_, o)| *o == "succeeded"),
        "every up succeeds: {ran:?}\n{note}"
    );
    assert_eq!(code, Some(0), "{note}");

    // The note: within its rows, nothing withheld, every migration with a cause shown
    // with its verdict line first.
    assert!(!note.contains("withheld"), "{}\n{note}", report["withheld"]);
    let rows = note.matches("| [PF-").count();
    let total_causes: usize = report["databases"][0]["migrations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["findings"].as_array().unwrap().len())
        .sum();
    eprintln!(
        "forum fixture: {total_causes} causes on the ups, {rows} cause rows in the note, {} bytes",
        note.len()
    );
    assert!(rows <= 40, "{rows} finding rows:\n{note}");
    for m in report["databases"][0]["migrations"].as_array().unwrap() {
        if m["findings"].as_array().unwrap().is_empty() {
            continue;
        }
        let name = m["name"].as_str().unwrap();
        assert!(
            note.contains(&format!("**`{name}`**: ")),
            "{name} has causes but no verdict in the note:\n{note}"
        );
    }
    assert!(
        note.contains("Locks that blocked the application"),
        "a locks summary: {note}"
    );

    // Renames: one cause per table, at the statement that renames a column of that
    // table (numbered as in the file: diesel's BEGIN is not counted).
    let renames = migration(&report, "2024-03-01-000001_rename_published");
    let s01 = causes(renames, "PF-S01");
    let by_table: Vec<(&str, (u64, u64))> = s01
        .iter()
        .map(|f| (f["object"].as_str().unwrap(), at(f)))
        .collect();
    for (object, statement) in [
        ("comment.published", (7, 8)),
        ("community.published", (3, 4)),
        ("person.published", (1, 2)),
        ("post.published", (5, 6)),
    ] {
        assert!(
            by_table.contains(&(object, statement)),
            "{object} at statement {statement:?}: {by_table:?}"
        );
    }
    assert_eq!(s01.len(), 4, "{by_table:?}");
    assert_eq!(
        causes(renames, "PF-L01").len(),
        1,
        "one transaction, one PF-L01"
    );
    assert_eq!(
        causes(renames, "PF-L02").len(),
        1,
        "one transaction, one PF-L02"
    );
    assert!(
        renames["findings"].as_array().unwrap().len() <= 6,
        "{}",
        renames["findings"]
    );

    // The rewrite is the REINDEX's (statement 2, line 4), not the ALTER TABLE's that
    // took the lock first; one cause folding the table's indexes, no bare PF-R01.
    let reindex = migration(&report, "2024-03-02-000001_comment_score");
    let i05 = causes(reindex, "PF-I05");
    assert_eq!(i05.len(), 1, "{}", reindex["findings"]);
    assert_eq!(at(i05[0]), (2, 4), "{}", i05[0]);
    assert_eq!(i05[0]["object"], "comment");
    assert!(
        i05[0]["also"].to_string().contains("idx_comment_post"),
        "{}",
        i05[0]
    );
    assert!(
        causes(reindex, "PF-R01").is_empty(),
        "{}",
        reindex["findings"]
    );
    assert!(
        note.contains("at `db/migrations/2024-03-02-000001_comment_score/up.sql:4`"),
        "a clickable place: {note}"
    );

    // The same-name index rebuild is found, at its DROP.
    let rebuilt = migration(&report, "2024-03-03-000001_post_published_desc");
    let i06 = causes(rebuilt, "PF-I06");
    assert_eq!(i06.len(), 1, "{}", rebuilt["findings"]);
    assert_eq!(at(i06[0]), (1, 1));

    // The backfill names the table it writes, not the one it reads.
    let backfill = migration(&report, "2024-03-04-000001_person_name_from_aggregates");
    let b01 = causes(backfill, "PF-B01");
    assert_eq!(b01.len(), 1, "{}", backfill["findings"]);
    assert_eq!(b01[0]["object"], "person");

    // The safe NOT NULL pattern raises nothing of the kind.
    for name in [
        "2024-03-05-000001_community_title",
        "2024-03-05-000002_community_title_validate",
    ] {
        let m = migration(&report, name);
        for id in ["PF-S03", "PF-C02"] {
            assert!(causes(m, id).is_empty(), "{name}: {}", m["findings"]);
        }
    }

    // A new table's foreign keys to existing tables with no index: one cause each,
    // with the referenced table's size.
    let like = migration(&report, "2024-03-06-000001_comment_like");
    let c04 = causes(like, "PF-C04");
    assert_eq!(c04.len(), 2, "{}", like["findings"]);
    let mut columns: Vec<&str> = c04.iter().map(|f| f["object"].as_str().unwrap()).collect();
    columns.sort();
    assert_eq!(
        columns,
        ["comment_like.comment_id", "comment_like.person_id"]
    );
    assert!(c04[0]["evidence"]
        .to_string()
        .contains("referenced table size"));
    assert_eq!(at(c04[0]), (1, 1), "the CREATE TABLE that declared it");

    // Dropping a referencing table blocks the tables it referenced.
    let dropped = migration(&report, "2024-03-07-000001_drop_mod_log");
    assert_eq!(causes(dropped, "PF-S02")[0]["object"], "mod_log");
    let blocked = dropped["verdict"]["blocking"]["table"].as_str().unwrap();
    assert!(
        ["person", "community"].contains(&blocked),
        "{}",
        dropped["verdict"]
    );

    // CASCADE names what it took along.
    let cascade = migration(&report, "2024-03-08-000001_drop_sort_type");
    let s04 = causes(cascade, "PF-S04");
    assert_eq!(s04.len(), 1, "{}", cascade["findings"]);
    assert_eq!(s04[0]["object"], "local_user.default_sort");

    // Triggers off around a data change, and a catalog written directly.
    let moved = migration(&report, "2024-03-09-000001_post_community_move");
    assert_eq!(at(causes(moved, "PF-C06")[0]), (1, 1));
    assert_eq!(at(causes(moved, "PF-K01")[0]), (4, 4));
    assert!(note.contains("[PF-K01]"), "{note}");

    // A statement kind named after the parser's node (REFRESH MAT VIEW) reaches the
    // verdict line: the gate knows the trace's kinds.
    assert!(
        note.contains(
            "**`2024-03-10-000001_refresh_post_counts`**: blocks reads and writes of `post_counts`"
        ),
        "{note}"
    );
    assert!(
        note.contains("REFRESH MAT VIEW `post_counts` (statement 1)"),
        "{note}"
    );
}
