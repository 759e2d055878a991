//! Child processes with an explicit environment. The job's own environment holds the
//! GitLab token, `CI_JOB_TOKEN` and the engine token; a child that inherited it would
//! hand them to whatever can read its `/proc/<pid>/environ` (a clone server's superuser
//! can, with `pg_read_file`). So every child preflight starts (git, PostgreSQL servers,
//! pg_dump, pg_basebackup, cp, chown, btrfs tools) is built here: the environment
//! cleared, then a fixed `PATH` and locale, then only what that one child needs.

use std::ffi::OsStr;

/// The `PATH` every child gets: system directories only.
pub const CHILD_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// A command whose environment is `PATH` and `LC_ALL=C.UTF-8` and nothing else; add
/// what the child needs with `.env(...)`.
pub fn command(program: impl AsRef<OsStr>) -> std::process::Command {
    let mut cmd = std::process::Command::new(program);
    cmd.env_clear()
        .env("PATH", CHILD_PATH)
        .env("LC_ALL", "C.UTF-8");
    cmd
}

/// [`command`] for tokio.
pub fn async_command(program: impl AsRef<OsStr>) -> tokio::process::Command {
    tokio::process::Command::from(command(program))
}

#[cfg(test)]
mod tests {
    #[test]
    fn children_see_only_path_and_locale() {
        std::env::set_var("PREFLIGHT_CHILD_ENV_PROBE", "glpat-must-not-pass");
        let out = super::command("env").output().unwrap();
        let env = String::from_utf8(out.stdout).unwrap();
        let mut keys: Vec<&str> = env.lines().filter_map(|l| l.split('=').next()).collect();
        keys.sort();
        assert_eq!(keys, ["LC_ALL", "PATH"], "{env}");
    }
}
