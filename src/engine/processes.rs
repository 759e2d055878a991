//! Nothing a clone server starts outlives its clone. A superuser migration can leave a
//! process behind (`COPY ... TO PROGRAM 'setsid -f ...'`) that keeps the clone's user id;
//! clone user ids are `clone_uid_base + port` and ports are reused, so that process
//! would own the next clone on the port (log in over its socket, read its queries, stop
//! its server). Every process of a confined clone's user is killed when the clone ends,
//! and again before the user id is handed to a new clone; a survivor is reported.

use std::time::Duration;

/// The real user id of process `pid`, from `/proc/<pid>/status`.
fn uid_of(pid: i32) -> Option<u32> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Pids of the processes whose real user id is `uid`.
pub fn processes_of(uid: u32) -> Vec<i32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| uid_of(*pid) == Some(uid))
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
}
