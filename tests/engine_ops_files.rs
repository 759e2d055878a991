//! The files operators copy for the engine, checked as they will be used: the example
//! configuration loads with the engine's own parser, the systemd unit is well formed
//! and keeps clones running across restarts, and ops/btrfs-pool.sh makes a btrfs pool
//! the engine picks the btrfs backend for.

use preflight::engine::config::EngineConfig;
use preflight::engine::storage::{Backend, BackendChoice};
use std::path::Path;
use std::process::Command;

fn repo(path: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

#[test]
fn the_example_configuration_loads() {
    let cfg = EngineConfig::from_file(&repo("ops/engine.example.yml")).unwrap();
    assert_eq!(cfg.listen, "127.0.0.1:2345", "loopback by default");
    assert_eq!(cfg.port_range, (6000, 6099));
    assert_eq!(cfg.backend, BackendChoice::Auto);
    assert!(cfg.preprocess_dir.is_some());
}

#[test]
fn the_systemd_unit_is_well_formed() {
    let text = std::fs::read_to_string(repo("ops/preflight-engine.service")).unwrap();
    let mut section = String::new();
    let mut keys = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if line.starts_with('[') {
            assert!(line.ends_with(']'), "{line}");
            section = line.to_string();
            continue;
        }
        let (key, value) = line
            .split_once('=')
            .unwrap_or_else(|| panic!("not key=value: {line}"));
        assert!(!section.is_empty() && !value.is_empty(), "{line}");
        keys.push(format!("{section}{key}={value}"));
    }
    let has = |k: &str| keys.iter().any(|x| x.starts_with(k));
    assert!(has(
        "[Service]ExecStart=/usr/local/bin/preflight engine serve --config"
    ));
    assert!(
        has("[Service]KillMode=process"),
        "clones must survive a restart"
    );
    assert!(has("[Service]KillSignal=SIGTERM"));
    assert!(has("[Install]WantedBy=multi-user.target"));
}

#[test]
fn the_btrfs_pool_script_makes_a_pool_the_engine_uses_btrfs_on() {
    if let Err(reason) = preflight::engine::btrfs_loop::available() {
        eprintln!(
            "NOTE: btrfs backend unavailable here ({reason}); the pool script is not exercised"
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mountpoint = dir.path().join("pool");
    let out = Command::new(repo("ops/btrfs-pool.sh"))
        .arg("--loop-file")
        .arg(dir.path().join("pool.img"))
        .arg("512M")
        .arg(&mountpoint)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    let backend = Backend::for_pool(&mountpoint, BackendChoice::Auto);
    let _ = Command::new("umount").arg("-l").arg(&mountpoint).status();
    assert!(out.status.success(), "{text}");
    assert!(text.contains("/etc/fstab"), "{text}");
    assert_eq!(backend.unwrap(), Backend::Btrfs);
}
