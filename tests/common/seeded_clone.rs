//! One clone of a seeded database on the built-in engine, in-process: the engine's pool
//! under a test's temporary directory, `seed_sql` as production, a restricted clone named
//! `<prefix>-<random>`. The test destroys it (`engine.destroy(&id)`).

use preflight::clone::builtin::BuiltinEngine;
use preflight::clone::{CloneEngine, CloneInfo, CloneRequest};
use preflight::config::file::{BuiltinSection, SourceSection};
use preflight::secret::Secret;
use std::path::Path;
use std::time::Duration;

pub struct SeededClone {
    pub engine: BuiltinEngine,
    pub id: String,
    pub info: CloneInfo,
}

pub async fn seeded_clone(root: &Path, seed_sql: &str, prefix: &str) -> SeededClone {
    let seed = root.join("seed.sql");
    std::fs::write(&seed, seed_sql).unwrap();
    let engine = BuiltinEngine::new(&BuiltinSection {
        work_dir: root.join("engine"),
        source: SourceSection::SqlFile { path: seed },
        relay_program: Some(env!("CARGO_BIN_EXE_preflight").into()),
        ..BuiltinSection::default()
    })
    .unwrap();
    let id = format!("{prefix}-{}", Secret::generate(8).expose().to_lowercase());
    let info = engine
        .create(
            &CloneRequest {
                id: id.clone(),
                db_name: "app".into(),
                username: "preflight".into(),
                password: Secret::generate(32),
                restricted: true,
                snapshot: None,
            },
            Duration::from_secs(60),
        )
        .await
        .unwrap();
    SeededClone { engine, id, info }
}
