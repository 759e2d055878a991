//! Nothing a clone server starts outlives its clone. A superuser migration can leave a
//! process behind (`COPY ... TO PROGRAM 'setsid -f ...'`) that keeps the clone's user id;
//! clone user ids are `clone_uid_base + port` and ports are reused, so that process
//! would own the next clone on the port (log in over its socket, read its queries, stop
//! its server). Every process of a confined clone's user is killed when the clone ends,
//! and again before the user id is handed to a new clone; a survivor is reported.

use std::time::Duration;

/// The real user id of process `pid`, from `/proc/<pid>/status`, unless it is a zombie:
/// a zombie runs nothing and holds nothing, only an exit status its parent (or the
/// namespace's init) has yet to collect, and no signal ends it.
fn live_uid_of(pid: i32) -> Option<u32> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
    };
    if field("State:")? == "Z" {
        return None;
    }
    field("Uid:")?.parse().ok()
}

/// Pids of the live (not zombie) processes whose real user id is `uid`.
pub fn processes_of(uid: u32) -> Vec<i32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| live_uid_of(*pid) == Some(uid))
        .collect()
}

/// Kills every process of `uid` (SIGKILL, again for any that a fork made meanwhile)
/// until none is left or `within` has passed; answers the survivors.
pub async fn kill_all(uid: u32, within: Duration) -> Vec<i32> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let left = processes_of(uid);
        if left.is_empty() || tokio::time::Instant::now() >= deadline {
            return left;
        }
        for pid in &left {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(*pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn this_process_is_found_by_its_user() {
        let me = nix::unistd::getuid().as_raw();
        assert!(super::processes_of(me).contains(&(std::process::id() as i32)));
        assert!(super::processes_of(u32::MAX - 7).is_empty());
    }

    #[test]
    fn a_zombie_is_not_a_survivor() {
        // A child that has exited and is not yet collected is a zombie of this user.
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id() as i32;
        let state = || {
            std::fs::read_to_string(format!("/proc/{pid}/status"))
                .unwrap()
                .lines()
                .find(|l| l.starts_with("State:"))
                .unwrap()
                .to_string()
        };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !state().contains('Z') {
            assert!(std::time::Instant::now() < deadline, "{}", state());
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        let me = nix::unistd::getuid().as_raw();
        assert!(!super::processes_of(me).contains(&pid));
        child.wait().unwrap();
    }
}
