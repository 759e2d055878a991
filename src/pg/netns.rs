//! A process in a network namespace of its own, with nothing but its own loopback.
//!
//! A clone server whose role may be a superuser can run programs (`COPY ... PROGRAM`),
//! so it must have no network at all, whatever the host's firewall says. [`isolated`]
//! starts it through `unshare --net` in a fresh network namespace whose only interface
//! is its own loopback, and only then drops to its unprivileged user with `setpriv`
//! (entering a namespace needs root, so the order matters). Nothing outside can reach a
//! listener in there and nothing in there can reach out; clients reach the server through
//! the engine's relay ([`crate::engine::relay`]).

use std::process::Command;

/// Run by `unshare --net`: bring the new namespace's loopback up (it starts down), then
/// become the server's user with no supplementary groups and run the server.
const LOOPBACK_UP_THEN_DROP: &str = r#"ip link set lo up || exit 71
uid=$1 gid=$2; shift 2
exec setpriv --reuid="$uid" --regid="$gid" --clear-groups -- "$@""#;

/// A command that runs `program` in a new network namespace (loopback up) as the user
/// `uid` and group `gid`. Needs root; the environment is [`crate::child::command`]'s.
pub fn isolated(program: &std::path::Path, uid: u32, gid: u32) -> Command {
    let mut cmd = crate::child::command("unshare");
    cmd.args(["--net", "--", "sh", "-c", LOOPBACK_UP_THEN_DROP, "sh"])
        .arg(uid.to_string())
        .arg(gid.to_string())
        .arg(program);
    cmd
}
