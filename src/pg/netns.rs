//! A process in a network namespace of its own, and connections dialed into it.
//!
//! A clone server whose role may be a superuser can run programs (`COPY ... PROGRAM`),
//! so it must have no network at all, whatever the host's firewall says. [`isolated`]
//! starts it through `unshare --net` in a fresh network namespace whose only interface
//! is its own loopback, and only then drops to its unprivileged user with `setpriv`
//! (entering a namespace needs root, so the order matters). Nothing outside can reach a listener in
//! there and nothing in there can reach out; the engine reaches the server with a
//! [`Dialer`]: a thread that joined the namespace and opens TCP connections to its
//! loopback on request, which keep working from the engine's own tasks.

use super::server::RunAs;
use std::io;
use std::process::Command;
use std::sync::mpsc;

/// Run by `unshare --net`: bring the new namespace's loopback up (it starts down), then
/// become the server's user with no supplementary groups and run the server.
const LOOPBACK_UP_THEN_DROP: &str = r#"ip link set lo up || exit 71
uid=$1 gid=$2; shift 2
exec setpriv --reuid="$uid" --regid="$gid" --clear-groups -- "$@""#;

/// A command that runs `program` in a new network namespace (loopback up) as `run_as`.
/// Needs root; the environment is [`crate::child::command`]'s.
pub fn isolated(program: &std::path::Path, run_as: RunAs) -> Command {
    let mut cmd = crate::child::command("unshare");
    cmd.args(["--net", "--", "sh", "-c", LOOPBACK_UP_THEN_DROP, "sh"])
        .arg(run_as.uid.to_string())
        .arg(run_as.gid.to_string())
        .arg(program);
    cmd
}

type Reply = tokio::sync::oneshot::Sender<io::Result<std::net::TcpStream>>;

/// Opens TCP connections to a port on the loopback of another process's network
/// namespace. Cheap to clone; its thread ends when the last handle is dropped.
#[derive(Clone)]
pub struct Dialer {
    requests: mpsc::Sender<Reply>,
}

impl Dialer {
    /// A dialer into the network namespace of process `pid`, to `127.0.0.1:port` there.
    pub fn into_namespace_of(pid: i32, port: u16) -> io::Result<Dialer> {
        let ns = std::fs::File::open(format!("/proc/{pid}/ns/net"))?;
        let (requests, incoming) = mpsc::channel::<Reply>();
        let (joined_tx, joined_rx) = mpsc::channel();
        std::thread::Builder::new()
            .name(format!("netns-dialer-{port}"))
            .spawn(move || {
                // For this thread only: the engine's other threads stay where they are.
                let joined = nix::sched::setns(&ns, nix::sched::CloneFlags::CLONE_NEWNET)
                    .map_err(io::Error::from);
                drop(ns);
                let ok = joined.is_ok();
                let _ = joined_tx.send(joined);
                if !ok {
                    return;
                }
                for reply in incoming {
                    let _ = reply.send(std::net::TcpStream::connect(("127.0.0.1", port)));
                }
            })?;
        joined_rx
            .recv()
            .map_err(|_| io::Error::other("the dialer thread ended before joining"))??;
        Ok(Dialer { requests })
    }

    /// A connection to the namespace's `127.0.0.1:port`, ready for tokio.
    pub async fn dial(&self) -> io::Result<tokio::net::TcpStream> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.requests
            .send(reply)
            .map_err(|_| io::Error::other("the dialer thread has ended"))?;
        let stream = answer
            .await
            .map_err(|_| io::Error::other("the dialer thread has ended"))??;
        stream.set_nonblocking(true)?;
        tokio::net::TcpStream::from_std(stream)
    }
}
