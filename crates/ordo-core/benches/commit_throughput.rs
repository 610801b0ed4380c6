//! Committed proposals per second through three `ordo-core` nodes in one
//! thread, messages delivered by function call and writes "durable" at once.
//! This measures the consensus algorithm alone: no disk, no network, no
//! runtime. Run with `cargo bench -p ordo-core --bench commit_throughput`.

use std::collections::BTreeMap;

use bytes::Bytes;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use ordo_core::{Config, InitialState, Membership, MemoryLog, Message, NodeId, Raft, Role};

struct Group {
    nodes: BTreeMap<NodeId, Raft<MemoryLog>>,
    leader: NodeId,
    messages: Vec<Message>,
}

impl Group {
    fn elected() -> Group {
        let membership = Membership::with_voters([1, 2, 3]);
        let nodes = (1..=3)
            .map(|id| {
                let config = Config {
                    node_id: id,
                    max_entries_per_message: 4096,
                    ..Config::default()
                };
                let initial = InitialState {
                    membership: membership.clone(),
                    ..Default::default()
                };
                let raft = Raft::new(config, MemoryLog::new(), initial)
                    .unwrap_or_else(|e| panic!("config: {e}"));
                (id, raft)
            })
            .collect();
        let mut group = Group {
            nodes,
            leader: 1,
            messages: Vec::new(),
        };
        if let Some(raft) = group.nodes.get_mut(&1) {
            raft.campaign().unwrap_or_else(|e| panic!("{e}"));
        }
        group.settle();
        assert_eq!(group.nodes[&1].role(), Role::Leader);
        group
    }

    /// Carries out every node's actions and delivers every message until quiet.
    fn settle(&mut self) {
        loop {
            for raft in self.nodes.values_mut() {
                loop {
                    let actions = raft.take_actions().unwrap_or_else(|e| panic!("{e}"));
                    if actions.is_empty() {
                        break;
                    }
                    if let Some(last) = actions.apply.last() {
                        raft.applied(last.index);
                    }
                    self.messages.extend(actions.messages);
                    if let Some(persist) = actions.persist {
                        raft.log_store_mut().apply(&persist);
                        raft.persisted(persist.id).unwrap_or_else(|e| panic!("{e}"));
                    }
                }
            }
            if self.messages.is_empty() {
                return;
            }
            for message in std::mem::take(&mut self.messages) {
                if let Some(raft) = self.nodes.get_mut(&message.to) {
                    raft.step(message).unwrap_or_else(|e| panic!("{e}"));
                }
            }
        }
    }

    fn commit_batch(&mut self, batch: &[Bytes]) {
        let Some(leader) = self.nodes.get_mut(&self.leader) else {
            return;
        };
        let proposal = leader
            .propose(batch.iter().cloned())
            .unwrap_or_else(|e| panic!("{e}"));
        self.settle();
        assert!(self.nodes[&self.leader].status().applied_index >= proposal.last_index);
    }
}

/// Batches committed per measured iteration, on one freshly elected group.
const BATCHES_PER_SAMPLE: u64 = 16;

fn commit_throughput(c: &mut Criterion) {
    let mut group = c.benchmark_group("commit_3_nodes");
    for batch_size in [1u64, 64, 1024] {
        let batch: Vec<Bytes> = (0..batch_size)
            .map(|_| Bytes::from(vec![7u8; 100]))
            .collect();
        group.throughput(Throughput::Elements(BATCHES_PER_SAMPLE * batch_size));
        group.bench_with_input(
            BenchmarkId::from_parameter(batch_size),
            &batch,
            |b, batch| {
                // A fresh group per sample keeps the in-memory logs from growing
                // without bound across criterion's many iterations.
                b.iter_batched_ref(
                    Group::elected,
                    |group| {
                        for _ in 0..BATCHES_PER_SAMPLE {
                            group.commit_batch(batch);
                        }
                    },
                    criterion::BatchSize::LargeInput,
                );
            },
        );
    }
    group.finish();
}

criterion_group!(benches, commit_throughput);
criterion_main!(benches);
