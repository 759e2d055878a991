//! A confined clone's port on the host. Its server listens only on the loopback of its
//! own network namespace ([`crate::pg::netns`]), so a small process of its own,
//! `preflight engine relay`, accepts on the clone's address and port and relays each
//! connection to the server in there. Connections arrive at the server as TCP ones, so
//! they need the clone's password exactly as before; the engine's own superuser
//! connection keeps using the private socket.
//!
//! The relay is a process, not a task of the engine, so that a crashed or restarted
//! engine does not cut the sessions of running clones (clones outlive the engine). It
//! binds its listener first, then enters the server's namespace (so every socket it opens
//! afterwards is in there: it has no way out itself), then becomes `nobody`, says
//! `ready`, and ends when its server does or on SIGTERM. The engine keeps its pid in the
//! clone's directory (`relay.pid`, out of the clone server's reach) to stop or adopt it.

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{ExitCode, Stdio};
use std::time::Duration;

/// `preflight engine relay`: started by the engine, not by people.
#[derive(Debug, clap::Args)]
pub struct RelayArgs {
    /// Where to accept: the clone's address and port, on the engine's network.
    #[arg(long)]
    pub listen: SocketAddr,
    /// The clone's postmaster: its network namespace is entered, its end ends the relay.
    #[arg(long)]
    pub server_pid: i32,
}

/// The unprivileged user the relay runs as once it is set up.
const NOBODY: u32 = 65534;

/// How often the relay checks that its server still runs.
const SERVER_CHECK: Duration = Duration::from_millis(250);

/// The relay's main, run before any async runtime exists (entering a namespace affects
/// only the calling thread, so the runtime's threads must all start after it).
pub fn run(args: RelayArgs) -> ExitCode {
    match set_up(&args) {
        Ok(listener) => {
            println!("ready");
            let _ = std::io::stdout().flush();
            relay(listener, args)
        }
        Err(e) => {
            eprintln!("preflight engine relay: {}", crate::error_chain(&e));
            ExitCode::from(3)
        }
    }
}

/// Why a relay could not be set up or started.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error("cannot {doing}")]
    Io {
        doing: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot {doing}")]
    Sys {
        doing: &'static str,
        #[source]
        source: nix::Error,
    },
    #[error("the relay did not start: {0}")]
    NotReady(String),
}

impl RelayError {
    fn io(doing: impl Into<String>) -> impl FnOnce(std::io::Error) -> RelayError {
        let doing = doing.into();
        move |source| RelayError::Io { doing, source }
    }

    fn sys(doing: &'static str) -> impl FnOnce(nix::Error) -> RelayError {
        move |source| RelayError::Sys { doing, source }
    }
}

fn set_up(args: &RelayArgs) -> Result<std::net::TcpListener, RelayError> {
    use nix::unistd::{setgid, setgroups, setuid, Gid, Uid};
    let listen = || RelayError::io(format!("listen on {}", args.listen));
    let listener = std::net::TcpListener::bind(args.listen).map_err(listen())?;
    listener.set_nonblocking(true).map_err(listen())?;
    let ns = std::fs::File::open(format!("/proc/{}/ns/net", args.server_pid))
        .map_err(RelayError::io("open the server's network namespace"))?;
    nix::sched::setns(&ns, nix::sched::CloneFlags::CLONE_NEWNET)
        .map_err(RelayError::sys("enter the server's network namespace"))?;
    setgroups(&[]).map_err(RelayError::sys("drop supplementary groups"))?;
    setgid(Gid::from_raw(NOBODY)).map_err(RelayError::sys("become group nobody"))?;
    setuid(Uid::from_raw(NOBODY)).map_err(RelayError::sys("become user nobody"))?;
    Ok(listener)
}

fn relay(listener: std::net::TcpListener, args: RelayArgs) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("preflight engine relay: {}", crate::error_chain(&e));
            return ExitCode::from(3);
        }
    };
    runtime.block_on(async move {
        let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
            return ExitCode::from(3);
        };
        let Ok(mut term) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        else {
            return ExitCode::from(3);
        };
        let server = ("127.0.0.1", args.listen.port());
        let mut check = tokio::time::interval(SERVER_CHECK);
        loop {
            tokio::select! {
                _ = term.recv() => return ExitCode::SUCCESS,
                _ = check.tick() => {
                    // EPERM: it runs as another user, so it is there.
                    let pid = nix::unistd::Pid::from_raw(args.server_pid);
                    if nix::sys::signal::kill(pid, None) == Err(nix::errno::Errno::ESRCH) {
                        return ExitCode::SUCCESS;
                    }
                }
                accepted = listener.accept() => {
                    let Ok((mut client, _)) = accepted else { continue };
                    tokio::spawn(async move {
                        let Ok(mut upstream) = tokio::net::TcpStream::connect(server).await else {
                            return;
                        };
                        let _ = client.set_nodelay(true);
                        let _ = upstream.set_nodelay(true);
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
                    });
                }
            }
        }
    })
}

/// Where the engine keeps a clone's relay pid.
fn pid_file(clone_dir: &Path) -> PathBuf {
    clone_dir.join("relay.pid")
}

/// Starts the relay of a confined clone and waits until it listens; keeps its pid.
pub fn start(
    program: &Path,
    listen: SocketAddr,
    server_pid: i32,
    clone_dir: &Path,
) -> Result<(), RelayError> {
    let log = std::fs::File::create(clone_dir.join("relay.log"))
        .map_err(RelayError::io("create the relay's log"))?;
    let mut child = crate::child::command(program)
        .args(["engine", "relay", "--listen", &listen.to_string()])
        .args(["--server-pid", &server_pid.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(log)
        .process_group(0)
        .spawn()
        .map_err(RelayError::io(format!(
            "start the relay {}",
            program.display()
        )))?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| RelayError::NotReady("it has no standard output".into()))?;
    let pid = child.id();
    let (said_tx, said) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = said_tx.send(line);
        // Reap it whenever it ends, so it never lingers as a zombie.
        let _ = child.wait();
    });
    match said.recv_timeout(Duration::from_secs(10)) {
        Ok(line) if line.trim() == "ready" => {}
        _ => {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid as i32),
                nix::sys::signal::Signal::SIGKILL,
            );
            let said = std::fs::read_to_string(clone_dir.join("relay.log")).unwrap_or_default();
            return Err(RelayError::NotReady(said.trim().to_string()));
        }
    }
    std::fs::write(pid_file(clone_dir), pid.to_string())
        .map_err(RelayError::io("record the relay's pid"))
}

/// The relay's pid, if the pid file names a live relay for `port`.
pub fn running(clone_dir: &Path, port: u16) -> Option<nix::unistd::Pid> {
    let pid: i32 = std::fs::read_to_string(pid_file(clone_dir))
        .ok()?
        .trim()
        .parse()
        .ok()?;
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
    let is_relay = args
        .windows(2)
        .any(|w| w == [&b"engine"[..], &b"relay"[..]])
        && args
            .iter()
            .any(|a| a.ends_with(format!(":{port}").as_bytes()));
    is_relay.then(|| nix::unistd::Pid::from_raw(pid))
}

/// Stops a clone's relay and waits (at most 5 s) until its port is free.
pub async fn stop(clone_dir: &Path, port: u16) {
    use nix::sys::signal::{kill, Signal};
    let Some(pid) = running(clone_dir, port) else {
        return;
    };
    let _ = kill(pid, Signal::SIGTERM);
    let started = std::time::Instant::now();
    while kill(pid, None).is_ok() && started.elapsed() < Duration::from_secs(5) {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let _ = kill(pid, Signal::SIGKILL);
    let _ = std::fs::remove_file(pid_file(clone_dir));
}
