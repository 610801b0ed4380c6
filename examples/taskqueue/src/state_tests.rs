//! The queue's rules, one at a time.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;

const TIMEOUT_MS: u64 = 100;

fn queue_with(payloads: &[&str], max_attempts: u32) -> QueueState {
    let mut state = QueueState::new();
    for payload in payloads {
        state.enqueue("q".into(), payload.as_bytes().to_vec(), max_attempts);
    }
    state
}

/// Claims at `now_ms` with `token`, as the machine does: clock first.
fn claim_at(state: &mut QueueState, now_ms: u64, token: ClaimToken) -> Option<ClaimedTask> {
    state.advance_clock(now_ms);
    let claimed = state.claim("q", "worker".into(), TIMEOUT_MS, token);
    state.check().unwrap();
    claimed
}

#[test]
fn tasks_are_claimed_in_order_and_an_empty_queue_gives_none() {
    let mut state = queue_with(&["a", "b"], 3);
    assert_eq!(claim_at(&mut state, 0, 10).unwrap().payload, b"a");
    assert_eq!(claim_at(&mut state, 0, 11).unwrap().payload, b"b");
    assert_eq!(claim_at(&mut state, 0, 12), None);
    assert_eq!(state.claim("other", "worker".into(), TIMEOUT_MS, 13), None);
}

#[test]
fn a_claim_expires_when_the_clock_passes_its_deadline_and_not_before() {
    let mut state = queue_with(&["a"], 3);
    let first = claim_at(&mut state, 1_000, 10).unwrap();
    assert_eq!(first.deadline_ms, 1_000 + TIMEOUT_MS);

    state.advance_clock(1_099);
    assert_eq!(state.stats(None).claimed, 1, "one ms before the deadline");
    state.advance_clock(1_100);
    assert_eq!(state.stats(None).ready, 1, "at the deadline it is back");

    let second = claim_at(&mut state, 1_100, 11).unwrap();
    assert_eq!((second.id, second.attempt), (first.id, 2));
}

#[test]
fn the_clock_never_goes_back_so_a_late_stamped_command_expires_nothing_early() {
    let mut state = queue_with(&["a"], 3);
    claim_at(&mut state, 1_000, 10).unwrap();
    state.advance_clock(500); // a command stamped by a leader whose clock is behind
    assert_eq!(state.clock_ms(), 1_000);
    assert_eq!(state.next_deadline_ms(), Some(1_000 + TIMEOUT_MS));
}

#[test]
fn an_ack_with_another_claims_token_is_refused_and_changes_nothing() {
    let mut state = queue_with(&["a"], 3);
    let stale = claim_at(&mut state, 0, 10).unwrap();
    state.advance_clock(TIMEOUT_MS); // expires
    assert_eq!(state.ack(stale.id, stale.token), Err(Refusal::NotClaimed));
    let current = claim_at(&mut state, TIMEOUT_MS, 11).unwrap();
    assert_eq!(
        state.ack(stale.id, stale.token),
        Err(Refusal::TokenMismatch)
    );
    assert_eq!(
        state.nack(stale.id, stale.token),
        Err(Refusal::TokenMismatch)
    );
    assert_eq!(state.stats(None).claimed, 1);

    assert_eq!(state.ack(current.id, current.token), Ok(()));
    assert_eq!(
        state.ack(current.id, current.token),
        Ok(()),
        "a retried ack"
    );
    assert_eq!(
        state.ack(current.id, stale.token),
        Err(Refusal::AlreadyAcked)
    );
    assert_eq!(
        state.nack(current.id, current.token),
        Err(Refusal::AlreadyAcked)
    );
    assert_eq!(state.ack(99, 1), Err(Refusal::UnknownTask));
    state.check().unwrap();
}

#[test]
fn an_acked_task_is_never_claimed_again_and_its_payload_is_dropped() {
    let mut state = queue_with(&["a"], 3);
    let task = claim_at(&mut state, 0, 10).unwrap();
    state.ack(task.id, task.token).unwrap();
    state.advance_clock(10 * TIMEOUT_MS);
    assert_eq!(claim_at(&mut state, 10 * TIMEOUT_MS, 11), None);
    assert!(state.task(task.id).unwrap().payload.is_empty());
    assert_eq!(state.next_deadline_ms(), None);
}

#[test]
fn a_nack_puts_the_task_at_the_back_of_its_queue() {
    let mut state = queue_with(&["a", "b"], 3);
    let a = claim_at(&mut state, 0, 10).unwrap();
    state.nack(a.id, a.token).unwrap();
    state.check().unwrap();
    assert_eq!(claim_at(&mut state, 0, 11).unwrap().payload, b"b");
    assert_eq!(claim_at(&mut state, 0, 12).unwrap().payload, b"a");
}

#[test]
fn a_task_is_dead_lettered_after_its_last_attempt_by_nack_or_by_expiry() {
    let mut state = queue_with(&["a", "b"], 2);
    // "a": nacked twice.
    let a = claim_at(&mut state, 0, 10).unwrap();
    state.nack(a.id, a.token).unwrap();
    let b = claim_at(&mut state, 0, 11).unwrap();
    let a = claim_at(&mut state, 0, 12).unwrap();
    assert_eq!(a.attempt, 2);
    state.nack(a.id, a.token).unwrap();
    // "b": its second claim expires.
    state.advance_clock(TIMEOUT_MS);
    let b_again = claim_at(&mut state, TIMEOUT_MS, 13).unwrap();
    assert_eq!((b_again.id, b_again.attempt), (b.id, 2));
    state.advance_clock(2 * TIMEOUT_MS);

    assert_eq!(state.dead_letters("q"), vec![a.id, b.id]);
    assert_eq!(claim_at(&mut state, 2 * TIMEOUT_MS, 14), None);
    assert_eq!(state.ack(a.id, a.token), Err(Refusal::DeadLettered));
    let stats = state.stats(Some("q"));
    assert_eq!((stats.dead_lettered, stats.ready, stats.claimed), (2, 0, 0));
}

#[test]
fn at_least_one_attempt_is_always_allowed() {
    let mut state = queue_with(&["a"], 0);
    assert!(claim_at(&mut state, 0, 10).is_some());
}

#[test]
fn the_planted_bugs_do_what_they_say() {
    let mut state = QueueState::with_planted_bug(Some(PlantedBug::LoseNack));
    state.enqueue("q".into(), b"a".to_vec(), 3);
    let a = claim_at(&mut state, 0, 10).unwrap();
    state.nack(a.id, a.token).unwrap();
    assert_eq!(state.claim("q", "w".into(), TIMEOUT_MS, 11), None, "lost");
    assert!(state.check().is_err());

    let mut state = QueueState::with_planted_bug(Some(PlantedBug::RedeliverAcked));
    state.enqueue("q".into(), b"a".to_vec(), 3);
    let a = claim_at(&mut state, 0, 10).unwrap();
    state.ack(a.id, a.token).unwrap();
    assert_eq!(claim_at(&mut state, 0, 11).unwrap().id, a.id, "redelivered");
}
