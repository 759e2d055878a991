//! The MR note upsert against the GitLab double: create, edit in place (found across
//! pages), retries on 429/500, and clear errors for 401 and 404.

mod common;

use common::gitlab_double::GitlabDouble;
use preflight::config::GitlabTarget;
use preflight::gitlab::{client::GitlabNotes, upsert_note, NoteAction};
use preflight::report::NOTE_MARKER;
use preflight::secret::Secret;

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
    let api = GitlabNotes::connect(&target(&gl, "glpat-test", 7))
        .await
        .unwrap();
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
    let api = GitlabNotes::connect(&target(&gl, "t", 7)).await.unwrap();
    gl.fail_next(&[429, 500]);
    let action = upsert_note(&api, NOTE_MARKER).await.unwrap();
    assert!(matches!(action, NoteAction::Created(_)));
    assert_eq!(gl.notes().len(), 1);
}

#[tokio::test]
async fn a_wrong_token_and_an_unknown_mr_say_what_to_check() {
    let gl = GitlabDouble::start("right", "42", 7).await;
    let err = GitlabNotes::connect(&target(&gl, "wrong", 7))
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("401") && err.contains("PREFLIGHT_GITLAB_TOKEN"),
        "{err}"
    );
    assert!(
        !err.contains("wrong"),
        "the token leaked into the error: {err}"
    );

    let api = GitlabNotes::connect(&target(&gl, "right", 8))
        .await
        .unwrap();
    let err = upsert_note(&api, NOTE_MARKER)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("404") && err.contains("CI_MERGE_REQUEST_IID"),
        "{err}"
    );

    let api = GitlabNotes::connect(&target(&gl, "right", 7))
        .await
        .unwrap();
    gl.fail_next(&[500, 500, 500, 500]);
    let err = upsert_note(&api, NOTE_MARKER)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("500"), "{err}");
}
