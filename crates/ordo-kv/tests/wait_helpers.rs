//! The bounded wait every ordo-kv test uses (`wait_support`): it returns the
//! check's value once it passes, and otherwise fails after its bound naming
//! what was awaited, what the check last saw and the caller's context.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod wait_support;

use std::time::Duration;

use wait_support::{Patience, wait_for, wait_for_blocking};

const BRIEF: Patience = Patience {
    within: Duration::from_millis(50),
    every: Duration::from_millis(5),
};

#[tokio::test]
async fn a_wait_returns_the_value_once_the_check_passes() {
    let mut polls = 0;
    let value = wait_for(
        "the third poll",
        BRIEF,
        || {
            polls += 1;
            std::future::ready(if polls == 3 {
                Ok(polls)
            } else {
                Err(format!("poll {polls}"))
            })
        },
        String::new,
    )
    .await;
    assert_eq!(value, 3);
}

#[tokio::test]
#[should_panic(expected = "waiting for the impossible (last seen: still no)\nnode logs")]
async fn a_wait_that_never_passes_names_what_it_awaited_and_saw() {
    wait_for(
        "the impossible",
        BRIEF,
        || std::future::ready(Err::<(), _>("still no".to_owned())),
        || "node logs".to_owned(),
    )
    .await;
}

#[test]
#[should_panic(expected = "timed out after 50ms waiting for the impossible (last seen: still no)")]
fn a_blocking_wait_that_never_passes_fails_the_same_way() {
    wait_for_blocking(
        "the impossible",
        BRIEF,
        || Err::<(), _>("still no".to_owned()),
        String::new,
    );
}
