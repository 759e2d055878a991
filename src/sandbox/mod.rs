//! The box: a Docker container per run, with no network (`network_mode: none`), a
//! read-only root filesystem, every capability dropped, an unprivileged user, limits on
//! processes, memory and CPU, and two bind mounts: the migrations to apply (read-only,
//! bytes the job wrote from git blobs) and the directory holding the bridge's database
//! socket. The MR's checkout is never mounted. Commands run in it through `docker exec`; their output goes to the full log.
//! Every container carries labels naming its run, so a sweep can find leftovers.

pub mod output;

use bollard::exec::{CreateExecOptions, StartExecResults};
use bollard::models::{ContainerCreateBody, HostConfig};
use bollard::query_parameters::{
    CreateContainerOptions, KillContainerOptions, ListContainersOptions, RemoveContainerOptions,
};
use bollard::Docker;
use futures_util::StreamExt;
use output::CappedLog;
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;
use thiserror::Error;

/// Where things appear inside the box.
pub const MIGRATIONS_MOUNT: &str = "/preflight/migrations";
pub const SOCKET_MOUNT: &str = "/run/preflight";
/// The unprivileged user the box image provides.
pub const BOX_USER: &str = "10001:10001";
pub const LABEL_MANAGED: &str = "preflight.managed";
pub const LABEL_RUN: &str = "preflight.run";
/// The id of the runs directory whose lock says whether the box's run is alive
/// ([`crate::runs::root_id`]): only a run sharing that directory can judge it.
pub const LABEL_ROOT: &str = "preflight.runs-root";

#[derive(Debug, Error)]
pub enum BoxError {
    #[error("Docker is not reachable at {endpoint}: {reason}; start the Docker daemon or set DOCKER_HOST")]
    Unreachable { endpoint: String, reason: String },
    #[error("the box image {image:?} is not in the local Docker engine; build it with ops/box-image/build.sh")]
    NoImage { image: String },
    #[error("Docker failed to {action}: {reason}")]
    Docker { action: String, reason: String },
    /// The job was cancelled while the box worked: its own variant, never a Docker error.
    #[error("the job was cancelled while the box ran a migration")]
    Cancelled,
}

fn docker_err(action: &str) -> impl Fn(bollard::errors::Error) -> BoxError + '_ {
    move |e| BoxError::Docker {
        action: action.to_string(),
        reason: e.to_string(),
    }
}

/// Connects to the local Docker engine (honouring DOCKER_HOST) and checks it answers.
pub async fn connect_docker() -> Result<Docker, BoxError> {
    let endpoint =
        std::env::var("DOCKER_HOST").unwrap_or_else(|_| "unix:///var/run/docker.sock".into());
    let unreachable = |e: bollard::errors::Error| BoxError::Unreachable {
        endpoint: endpoint.clone(),
        reason: e.to_string(),
    };
    let docker = Docker::connect_with_local_defaults().map_err(unreachable)?;
    let docker = tokio::time::timeout(Duration::from_secs(10), docker.negotiate_version())
        .await
        .map_err(|_| BoxError::Unreachable {
            endpoint: endpoint.clone(),
            reason: "no answer within 10 s".into(),
        })?
        .map_err(unreachable)?;
    docker.ping().await.map_err(unreachable)?;
    Ok(docker)
}

/// What a box is made of; everything here comes from trusted configuration or from
/// directories the job itself prepared.
#[derive(Debug, Clone)]
pub struct BoxSpec {
    pub image: String,
    pub run_id: String,
    /// The id of the runs directory that holds the run's lock.
    pub runs_root_id: String,
    pub name: String,
    pub migrations_dir: PathBuf,
    pub socket_dir: PathBuf,
    /// A PostgreSQL client newer than the image's, for a clone of a newer major: a root
    /// `ops/pg-major.sh` prepared, mounted read-only at its own path, and the bin
    /// directory inside it that goes first on the box's `PATH`.
    pub client: Option<(PathBuf, PathBuf)>,
}

/// The box's `PATH` when a client is mounted: its bin directory, then the image's.
const IMAGE_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// How a command in the box ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExecEnd {
    Exited(i64),
    /// Killed at the wall-clock limit (the whole box is stopped).
    TimedOut,
}

/// A running box.
pub struct Sandbox {
    docker: Docker,
    pub id: String,
}

impl Sandbox {
    pub async fn create(docker: &Docker, spec: &BoxSpec) -> Result<Sandbox, BoxError> {
        docker
            .inspect_image(&spec.image)
            .await
            .map_err(|_| BoxError::NoImage {
                image: spec.image.clone(),
            })?;
        let bind = |src: &PathBuf, dst: &str, mode: &str| format!("{}:{dst}:{mode}", src.display());
        let mut binds = vec![
            bind(&spec.migrations_dir, MIGRATIONS_MOUNT, "ro"),
            bind(&spec.socket_dir, SOCKET_MOUNT, "ro"),
        ];
        let mut env = Vec::new();
        if let Some((root, bin)) = &spec.client {
            binds.push(bind(root, &root.display().to_string(), "ro"));
            env.push(format!("PATH={}:{IMAGE_PATH}", bin.display()));
        }
        let host = HostConfig {
            network_mode: Some("none".into()),
            binds: Some(binds),
            readonly_rootfs: Some(true),
            tmpfs: Some(HashMap::from([(
                "/tmp".to_string(),
                "rw,nosuid,nodev,size=64m".to_string(),
            )])),
            cap_drop: Some(vec!["ALL".into()]),
            security_opt: Some(vec!["no-new-privileges".into()]),
            pids_limit: Some(256),
            memory: Some(1 << 30),
            nano_cpus: Some(1_000_000_000),
            init: Some(true),
            ..Default::default()
        };
        let body = ContainerCreateBody {
            image: Some(spec.image.clone()),
            cmd: Some(vec!["sleep".into(), "infinity".into()]),
            user: Some(BOX_USER.into()),
            working_dir: Some(MIGRATIONS_MOUNT.into()),
            network_disabled: Some(true),
            env: Some(env),
            labels: Some(HashMap::from([
                (LABEL_MANAGED.to_string(), "true".to_string()),
                (LABEL_RUN.to_string(), spec.run_id.clone()),
                (LABEL_ROOT.to_string(), spec.runs_root_id.clone()),
            ])),
            host_config: Some(host),
            ..Default::default()
        };
        let created = docker
            .create_container(
                Some(CreateContainerOptions {
                    name: Some(spec.name.clone()),
                    ..Default::default()
                }),
                body,
            )
            .await
            .map_err(docker_err("create the box"))?;
        let sandbox = Sandbox {
            docker: docker.clone(),
            id: created.id,
        };
        if let Err(e) = docker.start_container(&sandbox.id, None).await {
            let _ = sandbox.remove().await;
            return Err(docker_err("start the box")(e));
        }
        Ok(sandbox)
    }

    /// Runs `cmd` in the box with exactly `env`, writing its output to `log`, and kills
    /// the box if it runs past `timeout`.
    pub async fn exec(
        &self,
        cmd: Vec<String>,
        env: Vec<String>,
        timeout: Duration,
        log: &mut CappedLog,
    ) -> Result<ExecEnd, BoxError> {
        let exec = self
            .docker
            .create_exec(
                &self.id,
                CreateExecOptions {
                    cmd: Some(cmd),
                    env: Some(env),
                    attach_stdout: Some(true),
                    attach_stderr: Some(true),
                    user: Some(BOX_USER.to_string()),
                    ..Default::default()
                },
            )
            .await
            .map_err(docker_err("create a command in the box"))?;
        let started = self
            .docker
            .start_exec(&exec.id, None)
            .await
            .map_err(docker_err("start a command in the box"))?;
        let StartExecResults::Attached { mut output, .. } = started else {
            return Err(BoxError::Docker {
                action: "attach to a command in the box".into(),
                reason: "Docker started it detached".into(),
            });
        };
        let drain = async {
            while let Some(item) = output.next().await {
                match item {
                    Ok(chunk) => {
                        let _ = log.write(&chunk.into_bytes());
                    }
                    Err(_) => break,
                }
            }
        };
        if tokio::time::timeout(timeout, drain).await.is_err() {
            self.kill().await;
            return Ok(ExecEnd::TimedOut);
        }
        let inspect = self
            .docker
            .inspect_exec(&exec.id)
            .await
            .map_err(docker_err("read a command's exit code"))?;
        Ok(ExecEnd::Exited(inspect.exit_code.unwrap_or(-1)))
    }

    /// Kills the box and everything in it (a box already gone is fine).
    pub async fn kill(&self) {
        let _ = self
            .docker
            .kill_container(
                &self.id,
                Some(KillContainerOptions {
                    signal: "KILL".into(),
                }),
            )
            .await;
    }

    /// Removes the box; a box that is already gone counts as removed.
    pub async fn remove(&self) -> Result<(), BoxError> {
        remove_container(&self.docker, &self.id).await
    }
}

pub async fn remove_container(docker: &Docker, id: &str) -> Result<(), BoxError> {
    let options = RemoveContainerOptions {
        force: true,
        v: true,
        ..Default::default()
    };
    match docker.remove_container(id, Some(options)).await {
        Ok(()) => Ok(()),
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 404, ..
        }) => Ok(()),
        Err(e) => Err(docker_err("remove the box")(e)),
    }
}

/// A box preflight made, as its labels and Docker describe it.
#[derive(Debug, Clone)]
pub struct BoxInfo {
    pub id: String,
    pub run: String,
    /// The runs directory that holds its run's lock, when labelled.
    pub runs_root: Option<String>,
    /// When Docker created it (Unix seconds).
    pub created: i64,
}

/// Boxes preflight made (running or not); `run_id` narrows to one run.
pub async fn list_boxes(docker: &Docker, run_id: Option<&str>) -> Result<Vec<BoxInfo>, BoxError> {
    let label = match run_id {
        Some(run) => format!("{LABEL_RUN}={run}"),
        None => format!("{LABEL_MANAGED}=true"),
    };
    let filters = HashMap::from([("label".to_string(), vec![label])]);
    let list = docker
        .list_containers(Some(ListContainersOptions {
            all: true,
            filters: Some(filters),
            ..Default::default()
        }))
        .await
        .map_err(docker_err("list boxes"))?;
    Ok(list
        .into_iter()
        .filter_map(|c| {
            let labels = c.labels.as_ref()?;
            Some(BoxInfo {
                run: labels.get(LABEL_RUN)?.clone(),
                runs_root: labels.get(LABEL_ROOT).cloned(),
                created: c.created.unwrap_or(0),
                id: c.id?,
            })
        })
        .collect())
}

/// Ids of the boxes (running or not) labelled with `run_id`.
pub async fn boxes_of_run(docker: &Docker, run_id: &str) -> Result<Vec<String>, BoxError> {
    Ok(list_boxes(docker, Some(run_id))
        .await?
        .into_iter()
        .map(|b| b.id)
        .collect())
}
