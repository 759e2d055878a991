//! A clone server trusts connections on its Unix socket (the engine's own superuser
//! uses it), so only the server's own user may reach that socket. Another local user
//! (`nobody`, uid 65534) is refused by the file system before PostgreSQL sees it; until
//! this was fixed, the socket directory was 0755 and any local user was superuser on
//! every clone.

mod common;

use common::engine::*;
use preflight::engine::storage::PoolPaths;
use preflight::pg::server::SUPERUSER;
use std::os::unix::fs::PermissionsExt;
use std::process::Command;

#[tokio::test(flavor = "multi_thread")]
async fn another_local_user_cannot_reach_a_clones_socket() {
    let root = tempfile::tempdir().unwrap();
    let pool = root.path().join("pool");
    let engine = EngineProc::ready(
        root.path(),
        &pool,
        "backend: copy\nport_range: [6880, 6899]\n",
    )
    .await;
    let created = engine.create("sockets").await;
    let clone = engine.wait_settled("sockets").await;
    let port: u16 = clone["db"]["port"].as_str().unwrap().parse().unwrap();
    let dir = PoolPaths { root: pool.clone() }.socket_dir(port);
    assert!(
        dir.join(format!(".s.PGSQL.{port}")).exists(),
        "no socket in {}: {created}",
        dir.display()
    );
    let mode = std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700, "{} is {mode:o}", dir.display());

    let as_nobody = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .args(["psql", "-X", "-w", "-h"])
        .arg(&dir)
        .args(["-p", &port.to_string(), "-U", SUPERUSER, "-d", "postgres"])
        .args(["-c", "SELECT 'REACHED'"])
        .output()
        .expect("setpriv and psql run");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&as_nobody.stdout),
        String::from_utf8_lossy(&as_nobody.stderr)
    );
    assert!(
        !as_nobody.status.success() && !said.contains("REACHED"),
        "{said}"
    );
    assert!(said.contains("Permission denied"), "{said}");

    let (status, _) = engine.call("DELETE", "/clone/sockets", None).await;
    assert_eq!(status, 200);
    engine.wait_gone("sockets").await;
}
