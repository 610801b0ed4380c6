//! A durable write proves its entries durable only until a later write
//! overwrites them. When a follower's log is overwritten and then written back
//! with the very same entries (a leader of a later term that holds them), the
//! first write completing must not mark them durable: the write in between,
//! once durable itself, removed them from the disk.

use ordo_core::{
    AppendRequest, Config, Entry, InitialState, Membership, MemoryLog, Message, MessageBody,
    Persist, Raft,
};

fn append(from: u64, term: u64, prev: (u64, u64), entries: Vec<Entry>, commit: u64) -> Message {
    Message {
        from,
        to: 3,
        term,
        body: MessageBody::Append(AppendRequest {
            prev_log_index: prev.0,
            prev_log_term: prev.1,
            entries,
            leader_commit: commit,
        }),
    }
}

/// Steps `message` into `raft` and returns the write it asks for.
fn step_and_take_write(raft: &mut Raft<MemoryLog>, message: Message) -> Persist {
    raft.step(message).unwrap_or_else(|e| panic!("{e}"));
    let actions = raft.take_actions().unwrap_or_else(|e| panic!("{e}"));
    actions
        .persist
        .unwrap_or_else(|| panic!("a write is expected"))
}

/// Makes `write` durable on the node's disk and reports it.
fn make_durable(raft: &mut Raft<MemoryLog>, write: &Persist) {
    raft.log_store_mut().apply(write);
    raft.persisted(write.id).unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn a_write_overwritten_by_a_later_one_is_not_counted_durable() {
    // Five voters. Node 3 follows; its disk is slow, so none of the three
    // writes below is durable until the end.
    let config = Config {
        node_id: 3,
        ..Config::default()
    };
    let initial = InitialState {
        membership: Membership::with_voters([1, 2, 3, 4, 5]),
        ..InitialState::default()
    };
    let mut raft = Raft::new(config, MemoryLog::new(), initial).unwrap_or_else(|e| panic!("{e}"));

    // Term 1: node 1 sends entries 1..=3.
    let first = (1..=3).map(|i| Entry::command(i, 1, vec![b'a'])).collect();
    let a = step_and_take_write(&mut raft, append(1, 1, (0, 0), first, 0));
    // Term 2: node 2, elected without entries 2 and 3, overwrites them.
    let b = step_and_take_write(&mut raft, append(2, 2, (1, 1), vec![Entry::noop(2, 2)], 0));
    // Term 3: node 1, elected again, sends entries 2 and 3 back, and its
    // no-op at 4, which nodes 1, 4 and 5 have committed.
    let back = vec![
        Entry::command(2, 1, vec![b'a']),
        Entry::command(3, 1, vec![b'a']),
        Entry::noop(4, 3),
    ];
    let c = step_and_take_write(&mut raft, append(1, 3, (1, 1), back, 4));
    assert_eq!(raft.status().commit_index, 4);

    // The first two writes become durable, in order; the third is not yet.
    // On disk now: 1@1 2@2.
    make_durable(&mut raft, &a);
    make_durable(&mut raft, &b);
    assert_eq!(
        raft.status().durable_index,
        1,
        "entries 2 and 3 of term 1 are not on the disk (2@2 replaced them)"
    );
    let actions = raft
        .take_actions()
        .unwrap_or_else(|e| panic!("reading what the node believes durable: {e}"));
    let applied: Vec<(u64, u64)> = actions.apply.iter().map(|e| (e.index, e.term)).collect();
    assert_eq!(applied, vec![(1, 1)], "only the durable, committed entry");
    raft.applied(1);

    // Once the third write is durable, the rest is applied.
    make_durable(&mut raft, &c);
    assert_eq!(raft.status().durable_index, 4);
    let actions = raft.take_actions().unwrap_or_else(|e| panic!("{e}"));
    let applied: Vec<(u64, u64)> = actions.apply.iter().map(|e| (e.index, e.term)).collect();
    assert_eq!(applied, vec![(2, 1), (3, 1), (4, 3)]);
}
