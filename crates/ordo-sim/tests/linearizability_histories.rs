//! Hand-written key-value histories, each a small scenario with a known answer.
//!
//! Times are in the comments as `[call, return]`; an indeterminate operation's
//! return is `never`. Every history is on key 1 unless it says otherwise.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use ordo_sim::linearizability::{
    Budget, HistoryError, KvInput, KvModel, KvOperation, KvOutput, Verdict, Violation, check,
};

const KEY: u64 = 1;

fn put(client: u64, value: u64, [call, ret]: [u64; 2]) -> KvOperation {
    KvOperation::returned(
        client,
        KvInput::Put { key: KEY, value },
        call,
        ret,
        KvOutput::Put,
    )
}

fn get(client: u64, value: Option<u64>, [call, ret]: [u64; 2]) -> KvOperation {
    let output = KvOutput::Get { value };
    KvOperation::returned(client, KvInput::Get { key: KEY }, call, ret, output)
}

fn delete(client: u64, existed: bool, [call, ret]: [u64; 2]) -> KvOperation {
    let output = KvOutput::Delete { existed };
    KvOperation::returned(client, KvInput::Delete { key: KEY }, call, ret, output)
}

fn cas(client: u64, expected: Option<u64>, new: u64, swapped: bool, span: [u64; 2]) -> KvOperation {
    let input = KvInput::CompareAndSet {
        key: KEY,
        expected,
        new,
    };
    let output = KvOutput::CompareAndSet { swapped };
    KvOperation::returned(client, input, span[0], span[1], output)
}

fn put_unknown(client: u64, value: u64, call: u64) -> KvOperation {
    KvOperation::indeterminate(client, KvInput::Put { key: KEY, value }, call)
}

fn on_key(key: u64, mut operation: KvOperation) -> KvOperation {
    operation.input = match operation.input {
        KvInput::Put { value, .. } => KvInput::Put { key, value },
        KvInput::Get { .. } => KvInput::Get { key },
        KvInput::Delete { .. } => KvInput::Delete { key },
        KvInput::CompareAndSet { expected, new, .. } => {
            KvInput::CompareAndSet { key, expected, new }
        }
    };
    operation
}

fn verdict(history: &[KvOperation]) -> Verdict<KvModel> {
    check(&KvModel, history, &Budget::default()).unwrap()
}

#[track_caller]
fn assert_linearizable(history: &[KvOperation]) {
    match verdict(history) {
        Verdict::Linearizable => {}
        Verdict::Illegal(violation) => panic!("expected linearizable, got:\n{violation}"),
        Verdict::Unknown(undecided) => panic!("expected linearizable, got {undecided:?}"),
    }
}

#[track_caller]
fn assert_illegal(history: &[KvOperation]) -> Box<Violation<KvModel>> {
    match verdict(history) {
        Verdict::Illegal(violation) => violation,
        other => panic!("expected a violation, got {other:?}"),
    }
}

fn indices(
    operations: &[ordo_sim::linearizability::IndexedOperation<KvInput, KvOutput>],
) -> Vec<usize> {
    operations.iter().map(|operation| operation.index).collect()
}

fn prefix(violation: &Violation<KvModel>) -> Vec<usize> {
    violation
        .longest_prefix
        .iter()
        .map(|linearized| linearized.operation.index)
        .collect()
}

// ---- reads and writes ----

#[test]
fn an_empty_history_is_linearizable() {
    assert_linearizable(&[]);
}

#[test]
fn a_read_after_a_write_sees_it() {
    assert_linearizable(&[put(1, 10, [0, 10]), get(2, Some(10), [20, 30])]);
}

#[test]
fn a_key_starts_absent() {
    assert_linearizable(&[get(1, None, [0, 10])]);
    assert_illegal(&[get(1, Some(0), [0, 10])]);
}

#[test]
fn a_stale_read_after_a_completed_write_is_illegal() {
    let history = [
        put(1, 10, [0, 10]),        // #0
        put(1, 20, [20, 30]),       // #1 completes...
        get(2, Some(10), [40, 50]), // #2 ...before this read starts
    ];
    let violation = assert_illegal(&history);
    assert_eq!(violation.key, KEY);
    assert_eq!(prefix(&violation), [0, 1]);
    assert_eq!(violation.state, Some(20));
    assert_eq!(indices(&violation.stuck), [2]);
}

#[test]
fn a_read_concurrent_with_a_write_may_see_either_value() {
    // #1 put 20 spans [20, 40]; a read inside it may see 10 or 20.
    for seen in [10, 20] {
        assert_linearizable(&[
            put(1, 10, [0, 10]),
            put(1, 20, [20, 40]),
            get(2, Some(seen), [25, 30]),
        ]);
    }
}

#[test]
fn a_read_of_a_value_never_written_is_illegal() {
    let violation = assert_illegal(&[put(1, 10, [0, 10]), get(2, Some(99), [5, 15])]);
    assert_eq!(indices(&violation.stuck), [1]);
}

#[test]
fn an_acknowledged_write_that_is_lost_is_illegal() {
    // The write is acknowledged, then a read finds the key absent.
    assert_illegal(&[put(1, 10, [0, 10]), get(2, None, [20, 30])]);
}

#[test]
fn once_a_read_sees_a_write_later_reads_cannot_miss_it() {
    // The write is still in flight, but a completed read saw it: a later read
    // that misses it would be going back in time.
    assert_illegal(&[
        put(1, 10, [0, 100]),
        get(2, Some(10), [10, 20]),
        get(3, None, [30, 40]),
    ]);
    assert_linearizable(&[
        put(1, 10, [0, 100]),
        get(2, None, [10, 20]),
        get(3, Some(10), [30, 40]),
    ]);
}

#[test]
fn two_concurrent_puts_seen_in_opposite_orders_are_illegal() {
    // Both puts span [0, 100]. Client 3 sees 10 then 20, client 4 sees 20 then
    // 10: the puts cannot be in both orders.
    let history = [
        put(1, 10, [0, 100]),
        put(2, 20, [0, 100]),
        get(3, Some(10), [10, 20]),
        get(3, Some(20), [30, 40]),
        get(4, Some(20), [10, 20]),
        get(4, Some(10), [30, 40]),
    ];
    assert_illegal(&history);
    // Either order alone is fine.
    assert_linearizable(&history[..4]);
    let mut other_order = history[..2].to_vec();
    other_order.extend_from_slice(&history[4..]);
    assert_linearizable(&other_order);
}

#[test]
fn a_value_cannot_come_back_without_being_written_again() {
    let history = [
        put(1, 10, [0, 100]),
        put(2, 20, [0, 100]),
        get(3, Some(10), [10, 20]),
        get(3, Some(20), [30, 40]),
        get(3, Some(10), [50, 60]),
    ];
    assert_illegal(&history);
}

#[test]
fn operations_that_touch_are_concurrent() {
    // The read is called at the very nanosecond the put returns.
    assert_linearizable(&[put(1, 10, [0, 10]), get(2, None, [10, 20])]);
    assert_illegal(&[put(1, 10, [0, 10]), get(2, None, [11, 20])]);
    // A zero-length interval is an instant.
    assert_linearizable(&[put(1, 10, [5, 5]), get(2, Some(10), [5, 5])]);
}

// ---- delete ----

#[test]
fn delete_reports_whether_the_key_existed() {
    assert_linearizable(&[
        delete(1, false, [0, 10]),
        put(1, 10, [20, 30]),
        delete(1, true, [40, 50]),
        get(2, None, [60, 70]),
    ]);
    assert_illegal(&[delete(1, true, [0, 10])]);
    assert_illegal(&[put(1, 10, [0, 10]), delete(2, false, [20, 30])]);
    assert_illegal(&[
        put(1, 10, [0, 10]),
        delete(2, true, [20, 30]),
        get(3, Some(10), [40, 50]),
    ]);
}

// ---- compare-and-set ----

#[test]
fn compare_and_set_on_an_absent_key_creates_it() {
    assert_linearizable(&[cas(1, None, 10, true, [0, 10]), get(2, Some(10), [20, 30])]);
    assert_linearizable(&[put(1, 5, [0, 10]), cas(2, None, 10, false, [20, 30])]);
    assert_illegal(&[put(1, 5, [0, 10]), cas(2, None, 10, true, [20, 30])]);
}

#[test]
fn two_swaps_from_the_same_value_cannot_both_succeed() {
    // A lost update: both clients read 10 and both swaps claim to have won.
    let history = [
        put(1, 10, [0, 10]),
        cas(2, Some(10), 20, true, [20, 40]),
        cas(3, Some(10), 30, true, [20, 40]),
    ];
    assert_illegal(&history);
    // One winner and one loser is what a correct store answers.
    let mut one_loses = history.to_vec();
    one_loses[2] = cas(3, Some(10), 30, false, [20, 40]);
    assert_linearizable(&one_loses);
}

#[test]
fn a_swap_that_failed_although_the_value_matched_is_illegal() {
    assert_illegal(&[put(1, 10, [0, 10]), cas(2, Some(10), 20, false, [20, 30])]);
    // Unless a concurrent write could have changed the value first.
    assert_linearizable(&[
        put(1, 10, [0, 10]),
        cas(2, Some(10), 20, false, [20, 30]),
        put(3, 15, [15, 25]),
    ]);
}

#[test]
fn a_successful_swap_cannot_be_undone_by_nothing() {
    assert_illegal(&[
        put(1, 10, [0, 10]),
        cas(2, Some(10), 20, true, [20, 30]),
        get(3, Some(10), [40, 50]),
    ]);
}

#[test]
fn a_swap_chain_is_linearizable_in_its_only_order() {
    // Three concurrent swaps, listed out of order; only 10 -> 20 -> 30 -> 40 works.
    assert_linearizable(&[
        put(1, 10, [0, 10]),
        cas(4, Some(30), 40, true, [20, 60]),
        cas(2, Some(10), 20, true, [20, 60]),
        cas(3, Some(20), 30, true, [20, 60]),
        get(1, Some(40), [70, 80]),
    ]);
}

// ---- indeterminate outcomes ----

#[test]
fn an_indeterminate_write_may_take_effect() {
    assert_linearizable(&[put_unknown(1, 10, 0), get(2, Some(10), [100, 110])]);
}

#[test]
fn an_indeterminate_write_may_never_take_effect() {
    assert_linearizable(&[
        put_unknown(1, 10, 0),
        get(2, None, [100, 110]),
        get(2, None, [200, 210]),
    ]);
}

#[test]
fn an_indeterminate_write_may_take_effect_long_after_its_client_gave_up() {
    assert_linearizable(&[
        put_unknown(1, 10, 0),
        get(2, None, [100, 110]),
        get(2, Some(10), [1_000_000, 1_000_010]),
    ]);
}

#[test]
fn an_indeterminate_write_cannot_take_effect_before_it_was_called() {
    let violation = assert_illegal(&[get(2, Some(10), [0, 10]), put_unknown(1, 10, 20)]);
    assert_eq!(indices(&violation.stuck), [0]);
}

#[test]
fn an_indeterminate_write_takes_effect_at_most_once() {
    assert_illegal(&[
        put_unknown(1, 10, 0),
        put(2, 20, [10, 20]),
        get(3, Some(10), [30, 40]),
        get(3, Some(20), [50, 60]),
        get(3, Some(10), [70, 80]),
    ]);
}

#[test]
fn an_indeterminate_swap_takes_effect_only_if_it_matches() {
    let swap_from_five = KvInput::CompareAndSet {
        key: KEY,
        expected: Some(5),
        new: 70,
    };
    let swap_from_ten = KvInput::CompareAndSet {
        key: KEY,
        expected: Some(10),
        new: 70,
    };
    assert_illegal(&[
        put(1, 10, [0, 10]),
        KvOperation::indeterminate(2, swap_from_five, 20),
        get(3, Some(70), [30, 40]),
    ]);
    assert_linearizable(&[
        put(1, 10, [0, 10]),
        KvOperation::indeterminate(2, swap_from_ten, 20),
        get(3, Some(70), [30, 40]),
    ]);
}

#[test]
fn an_indeterminate_delete_cannot_be_undone() {
    let delete_unknown = KvOperation::indeterminate(2, KvInput::Delete { key: KEY }, 20);
    let history = [put(1, 10, [0, 10]), delete_unknown, get(3, None, [30, 40])];
    assert_linearizable(&history);
    let mut back_again = history.to_vec();
    back_again.push(get(3, Some(10), [50, 60]));
    assert_illegal(&back_again);
}

#[test]
fn an_indeterminate_read_constrains_nothing() {
    let read_unknown = KvOperation::indeterminate(2, KvInput::Get { key: KEY }, 0);
    assert_linearizable(&[read_unknown.clone(), put(1, 10, [20, 30])]);
    let violation = assert_illegal(&[read_unknown, put(1, 10, [20, 30]), get(3, None, [40, 50])]);
    assert_eq!(
        violation.partition_len, 2,
        "the indeterminate read is not searched"
    );
}

// ---- partitions, explanations, errors and budgets ----

#[test]
fn keys_are_checked_separately_and_in_order() {
    let history = [
        on_key(3, put(1, 10, [0, 10])),
        on_key(3, get(2, None, [20, 30])), // illegal on key 3
        on_key(2, put(1, 10, [0, 10])),
        on_key(2, get(2, None, [20, 30])), // illegal on key 2
        put(1, 10, [0, 10]),
        get(2, Some(10), [20, 30]),          // fine on key 1
        on_key(2, get(3, Some(10), [5, 6])), // a read of key 2 is no read of key 1
    ];
    let violation = assert_illegal(&history);
    assert_eq!(violation.key, 2);
    assert_eq!(violation.partition_len, 3);
    assert_linearizable(&history[4..6]);
}

#[test]
fn a_violation_explains_itself() {
    // The indeterminate put is not in the prefix: nobody reads 30 or 20, so
    // after 20 it would change nothing anyone can see.
    let history = [
        put(1, 10, [0, 10]),
        put(1, 20, [20, 30]),
        get(2, Some(10), [40, 50]),
        put_unknown(3, 30, 45),
    ];
    let violation = assert_illegal(&history);
    let expected = "\
key 1: no linearization of its 4 operations
longest linearizable prefix: 2 operations
  #0 client 1 [0, 10] ns: Put { key: 1, value: 10 } -> Put  => Some(10)
  #1 client 1 [20, 30] ns: Put { key: 1, value: 20 } -> Put  => Some(20)
state after it: Some(20)
no operation that may come next fits that state:
  #2 client 2 [40, 50] ns: Get { key: 1 } -> Get { value: Some(10) }
";
    assert_eq!(violation.to_string(), expected);
}

#[test]
fn a_long_prefix_is_shown_by_its_tail() {
    let mut history: Vec<_> = (0..25)
        .map(|step| put(1, step, [step * 10, step * 10 + 5]))
        .collect();
    history.push(get(2, Some(3), [1_000, 1_010]));
    let violation = assert_illegal(&history);
    assert_eq!(violation.longest_prefix.len(), 25);
    let shown = violation.to_string();
    assert!(shown.contains("25 operations; the last 10"), "{shown}");
    assert!(
        shown.contains("#24 client 1") && !shown.contains("#14 client 1"),
        "{shown}"
    );
}

#[test]
fn a_response_before_its_request_is_refused() {
    let history = [put(1, 10, [0, 10]), get(2, None, [30, 20])];
    let error = check(&KvModel, &history, &Budget::default()).unwrap_err();
    assert_eq!(
        error,
        HistoryError::ReturnBeforeCall {
            index: 1,
            call_ns: 30,
            return_ns: 20
        }
    );
}

#[test]
fn past_the_step_budget_the_verdict_is_unknown() {
    let history = [
        on_key(7, put(1, 10, [0, 10])),
        put(1, 10, [0, 10]),
        put(2, 20, [0, 10]),
        get(3, Some(10), [20, 30]),
    ];
    // Put 10, put 20, then the read fails: the search must backtrack, which
    // takes more than three steps.
    let budget = Budget {
        max_steps_per_partition: 3,
        ..Budget::default()
    };
    let Verdict::Unknown(undecided) = check(&KvModel, &history, &budget).unwrap() else {
        panic!("three steps cannot decide key 1");
    };
    assert_eq!(undecided.keys, [KEY]);
    assert!(!undecided.time_limit_passed);
}

#[test]
fn past_the_time_limit_the_remaining_keys_are_unknown() {
    // Ten concurrent puts then a read of a value nobody wrote: refuting it visits
    // every subset of the puts (more steps than the first clock reading needs).
    let mut history: Vec<_> = (0..12)
        .map(|client| put(client, client, [0, 100]))
        .collect();
    history.push(get(99, Some(99), [200, 210]));
    history.push(on_key(5, put(1, 1, [0, 1])));
    let budget = Budget {
        time_limit: Some(Duration::ZERO),
        ..Budget::default()
    };
    let Verdict::Unknown(undecided) = check(&KvModel, &history, &budget).unwrap() else {
        panic!("a zero time limit must leave the check undecided");
    };
    assert_eq!(undecided.keys, [KEY, 5]);
    assert!(undecided.time_limit_passed);
}
