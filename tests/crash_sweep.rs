//! Cleanup after a crash (DESIGN.md rule 5): a run killed with SIGKILL leaves its box and
//! run directory behind; the next run removes them, and leaves alone those of a run that
//! is still alive (its lock held), and those of a live run whose lock is in another runs
//! directory (another `TMPDIR`, another job container): it cannot see that lock, so it
//! cannot judge that run.

mod common;

use bollard::models::ContainerCreateBody;
use bollard::query_parameters::CreateContainerOptions;
use common::gitlab_double::GitlabDouble;
use common::*;
use preflight::runs::{root_id, runs_root, RunDir};
use preflight::sandbox::{
    boxes_of_run, connect_docker, remove_container, LABEL_MANAGED, LABEL_ROOT, LABEL_RUN,
};
use std::collections::HashMap;

/// A box of run `run` whose lock is in the runs directory `root`.
async fn fake_box(docker: &bollard::Docker, run: &str, root: &std::path::Path) -> String {
    let labels = HashMap::from([
        (LABEL_MANAGED.to_string(), "true".to_string()),
        (LABEL_RUN.to_string(), run.to_string()),
        (LABEL_ROOT.to_string(), root_id(root).unwrap()),
    ]);
    docker
        .create_container(
            Some(CreateContainerOptions {
                name: Some(format!("{run}-box")),
                ..Default::default()
            }),
            ContainerCreateBody {
                image: Some("preflight-box:bookworm".into()),
                cmd: Some(vec!["sleep".into(), "600".into()]),
                labels: Some(labels),
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .id
}

#[tokio::test(flavor = "multi_thread")]
async fn the_next_run_removes_what_a_dead_run_left_and_spares_live_ones() {
    let docker = connect_docker().await.unwrap();
    let suffix = preflight::secret::Secret::generate(8)
        .expose()
        .to_lowercase();
    let dead = format!("pf-0-dead{suffix}");
    let live = format!("pf-0-live{suffix}");
    let elsewhere = format!("pf-0-else{suffix}");
    // A dead run: its box and directory, no lock held.
    fake_box(&docker, &dead, &runs_root()).await;
    std::fs::create_dir_all(runs_root().join(&dead)).unwrap();
    // A live run: the same, with its lock held by this test.
    let live_dir = RunDir::create(&runs_root(), &live).unwrap();
    let live_box = fake_box(&docker, &live, &runs_root()).await;
    // A live run with another TMPDIR: its lock is in a directory this run cannot see.
    let other_root = tempfile::tempdir().unwrap();
    let elsewhere_dir = RunDir::create(other_root.path(), &elsewhere).unwrap();
    let elsewhere_box = fake_box(&docker, &elsewhere, other_root.path()).await;

    let root = tempfile::tempdir().unwrap();
    let repo = repo_with_migrations(
        root.path(),
        &[],
        &[("0001_t.sql", "CREATE TABLE t (id int);")],
    );
    let config = builtin_config(root.path(), "SELECT 1;");
    let gl = GitlabDouble::start("tok", "42", 7).await;
    let env = mr_env(
        &gl.url,
        "tok",
        &repo,
        &config,
        &root.path().join("artifacts"),
    );
    let out = preflight(&env, &["run"]);
    let dead_left = boxes_of_run(&docker, &dead).await.unwrap();
    let live_left = boxes_of_run(&docker, &live).await.unwrap();
    let elsewhere_left = boxes_of_run(&docker, &elsewhere).await.unwrap();
    let dead_dir_left = runs_root().join(&dead).exists();
    remove_container(&docker, &live_box).await.unwrap();
    remove_container(&docker, &elsewhere_box).await.unwrap();
    drop((live_dir, elsewhere_dir));

    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(dead_left.is_empty(), "the dead run's box was removed");
    assert!(!dead_dir_left, "the dead run's directory was removed");
    assert_eq!(live_left.len(), 1, "a live run's box is left alone");
    assert_eq!(
        elsewhere_left.len(),
        1,
        "a live run of another runs directory is left alone"
    );
    // (Which run's sweep removed them is not asserted: tests run in parallel, and any
    // `preflight run` on this host may be the one.)
}
