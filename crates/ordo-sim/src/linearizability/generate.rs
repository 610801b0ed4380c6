//! Random key-value histories that are linearizable by construction, and a way
//! to plant a bug in one: test material for the checker (and for anything else
//! that consumes histories).
//!
//! Each client runs one operation at a time: it calls, the operation takes
//! effect at a random moment inside its interval (its linearization point), the
//! response arrives later, the client thinks, and calls again. Outputs come from
//! applying the operations to one copy of the store in linearization-point order,
//! so the history is linearizable whatever the overlaps. Every `Put` and
//! `CompareAndSet` writes a distinct value (the operation's position plus one).

use std::collections::HashMap;

use ordo_core::SplitMix64;

use super::history::{Operation, Outcome};
use super::kv::{KvInput, KvKey, KvOperation, KvOutput, KvValue};

/// The shape of a generated history.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KvWorkload {
    /// Clients issuing operations concurrently, one at a time each.
    pub clients: usize,
    /// Operations in the history.
    pub operations: usize,
    /// Keys `0..keys` are used, uniformly.
    pub keys: u64,
    /// Operations, per thousand, whose client times out. Half of those take
    /// effect (possibly long after the client gave up), half never do.
    pub indeterminate_per_mille: u32,
    /// Longest time from a call to its linearization point, and from there to the
    /// response.
    pub max_latency_ns: u64,
    /// Longest pause between a response and the client's next call.
    pub max_think_ns: u64,
}

impl Default for KvWorkload {
    fn default() -> Self {
        Self {
            clients: 5,
            operations: 1_000,
            keys: 3,
            indeterminate_per_mille: 20,
            max_latency_ns: 1_000,
            max_think_ns: 200,
        }
    }
}

/// One operation while the history is being built.
struct Planned {
    client_id: u64,
    input: KvInput,
    call_ns: u64,
    /// `None`: the operation never takes effect.
    effect_ns: Option<u64>,
    /// `None`: indeterminate.
    return_ns: Option<u64>,
}

/// A random linearizable history of `workload`'s shape. The same seed always
/// gives the same history.
pub fn random_kv_history(workload: &KvWorkload, seed: u64) -> Vec<KvOperation> {
    assert!(
        workload.clients > 0 && workload.keys > 0,
        "a workload needs clients and keys"
    );
    let mut rng = HistoryRng::new(seed);
    let mut next_call_ns: Vec<u64> = (0..workload.clients)
        .map(|_| rng.at_most(workload.max_think_ns))
        .collect();
    let mut last_written: HashMap<KvKey, KvValue> = HashMap::new();
    let mut planned = Vec::with_capacity(workload.operations);
    for position in 0..workload.operations {
        let Some((client, &call_ns)) = next_call_ns
            .iter()
            .enumerate()
            .min_by_key(|&(client, &at)| (at, client))
        else {
            unreachable!("there is at least one client");
        };
        let input = random_input(&mut rng, workload, position, &mut last_written);
        let operation = plan(&mut rng, workload, client as u64, input, call_ns);
        next_call_ns[client] = match operation.return_ns {
            Some(return_ns) => return_ns + rng.at_most(workload.max_think_ns),
            None => call_ns + timeout_ns(workload) + rng.at_most(workload.max_think_ns),
        };
        planned.push(operation);
    }
    record(&planned)
}

fn random_input(
    rng: &mut HistoryRng,
    workload: &KvWorkload,
    position: usize,
    last_written: &mut HashMap<KvKey, KvValue>,
) -> KvInput {
    let key = rng.below(workload.keys);
    let value = position as KvValue + 1;
    match rng.below(100) {
        0..40 => KvInput::Get { key },
        40..70 => {
            last_written.insert(key, value);
            KvInput::Put { key, value }
        }
        70..90 => {
            // Mostly the latest value written, so that many swaps succeed.
            let latest = last_written.get(&key).copied();
            let expected = if rng.below(4) == 0 { None } else { latest };
            last_written.insert(key, value);
            KvInput::CompareAndSet {
                key,
                expected,
                new: value,
            }
        }
        _ => KvInput::Delete { key },
    }
}

/// Times one operation: when it takes effect and when (if ever) its client hears.
fn plan(
    rng: &mut HistoryRng,
    workload: &KvWorkload,
    client_id: u64,
    input: KvInput,
    call_ns: u64,
) -> Planned {
    let latency_ns = workload.max_latency_ns;
    let times_out = rng.below(1000) < u64::from(workload.indeterminate_per_mille);
    if times_out {
        // Takes effect at any time, even after the client has moved on, or never.
        let effect_ns = (rng.below(2) == 0).then(|| call_ns + rng.at_most(4 * latency_ns));
        return Planned {
            client_id,
            input,
            call_ns,
            effect_ns,
            return_ns: None,
        };
    }
    let effect_ns = call_ns + rng.at_most(latency_ns);
    let return_ns = effect_ns + rng.at_most(latency_ns);
    Planned {
        client_id,
        input,
        call_ns,
        effect_ns: Some(effect_ns),
        return_ns: Some(return_ns),
    }
}

fn timeout_ns(workload: &KvWorkload) -> u64 {
    2 * workload.max_latency_ns + 1
}

/// Applies the operations that take effect in linearization-point order and
/// records what each client saw.
fn record(planned: &[Planned]) -> Vec<KvOperation> {
    let mut order: Vec<(u64, usize)> = planned
        .iter()
        .enumerate()
        .filter_map(|(position, operation)| Some((operation.effect_ns?, position)))
        .collect();
    order.sort_unstable();
    let mut store: HashMap<KvKey, KvValue> = HashMap::new();
    let mut outputs: Vec<Option<KvOutput>> = vec![None; planned.len()];
    for (_, position) in order {
        let input = planned[position].input;
        let key = input.key();
        let (after, output) = input.apply(store.get(&key).copied());
        match after {
            Some(value) => store.insert(key, value),
            None => store.remove(&key),
        };
        outputs[position] = Some(output);
    }
    planned
        .iter()
        .zip(outputs)
        .map(|(operation, output)| {
            let outcome = match (operation.return_ns, output) {
                (Some(return_ns), Some(output)) => Outcome::Returned { return_ns, output },
                _ => Outcome::Indeterminate,
            };
            let Planned {
                client_id,
                input,
                call_ns,
                ..
            } = *operation;
            Operation {
                client_id,
                input,
                call_ns,
                outcome,
            }
        })
        .collect()
}

/// Makes one determinate `Get` return a stale value: one written by an operation
/// that a later, completed write certainly overwrote before the `Get` was called.
/// No linearization can explain that, so a correct checker must reject the
/// result. Returns the position of the altered `Get`, or `None` if the history
/// has no such read.
///
/// Relies on every write having a distinct value, as [`random_kv_history`]
/// produces; the read is chosen at random from `seed`.
pub fn plant_stale_read(history: &mut [KvOperation], seed: u64) -> Option<usize> {
    if history.is_empty() {
        return None;
    }
    let start = HistoryRng::new(seed).below(history.len() as u64) as usize;
    for offset in 0..history.len() {
        let read = (start + offset) % history.len();
        if let Some(stale) = stale_value_for(history, read)
            && let Outcome::Returned { output, .. } = &mut history[read].outcome
        {
            *output = KvOutput::Get { value: Some(stale) };
            return Some(read);
        }
    }
    None
}

/// A value that the determinate `Get` at `read` cannot legally return: written
/// by a completed write that precedes another completed write, which in turn
/// precedes the read.
fn stale_value_for(history: &[KvOperation], read: usize) -> Option<KvValue> {
    let get = &history[read];
    let (KvInput::Get { key }, Some(KvOutput::Get { value: seen })) = (get.input, get.output())
    else {
        return None;
    };
    let on_key = |operation: &&KvOperation| operation.input.key() == key;
    let overwrite = history
        .iter()
        .filter(on_key)
        .filter(|write| changes_value(write) && write.precedes(get))
        .max_by_key(|write| write.call_ns)?;
    let (stale, _) = history
        .iter()
        .filter(on_key)
        .filter(|write| write.precedes(overwrite))
        .filter_map(|write| Some((value_written(write)?, write.return_ns())))
        .max_by_key(|&(_, return_ns)| return_ns)?;
    (*seen != Some(stale)).then_some(stale)
}

/// Whether a determinate operation certainly changed its key's value to one no
/// earlier write wrote.
fn changes_value(operation: &KvOperation) -> bool {
    matches!(operation.input, KvInput::Delete { .. }) && operation.output().is_some()
        || value_written(operation).is_some()
}

/// The value a determinate operation certainly wrote.
fn value_written(operation: &KvOperation) -> Option<KvValue> {
    match (operation.input, operation.output()?) {
        (KvInput::Put { value, .. }, _) => Some(value),
        (KvInput::CompareAndSet { new, .. }, KvOutput::CompareAndSet { swapped: true }) => {
            Some(new)
        }
        _ => None,
    }
}

/// The core's [`SplitMix64`], with the draws the generator needs.
struct HistoryRng(SplitMix64);

impl HistoryRng {
    fn new(seed: u64) -> Self {
        HistoryRng(SplitMix64::new(seed))
    }

    /// Uniform in `0..bound` (up to a negligible bias); `bound` must be positive.
    fn below(&mut self, bound: u64) -> u64 {
        ((u128::from(self.0.next_u64()) * u128::from(bound)) >> 64) as u64
    }

    /// Uniform in `0..=max`.
    fn at_most(&mut self, max: u64) -> u64 {
        self.below(max.saturating_add(1))
    }
}
