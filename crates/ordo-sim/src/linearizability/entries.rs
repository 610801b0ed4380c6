//! The operations of one partition as a time-ordered list of call and return
//! events. The search takes an operation's two events out when it linearizes
//! the operation and puts them back when it backtracks.

use super::links::Links;

/// An event of the list. `op` indexes the operations the list was built from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Event {
    /// An operation is called; its return is event `return_event`.
    Call { op: usize, return_event: usize },
    /// An operation returns.
    Return { op: usize },
}

/// The events still in play, in time order. At equal times calls come first, so
/// operations that touch are concurrent; then lower `op` first, so the order
/// never depends on the sort. Indeterminate operations return at +infinity,
/// after every finite return.
///
/// Invariant: a call is linked exactly when its return is, and comes before it.
#[derive(Clone, Debug)]
pub(crate) struct EntryList {
    events: Vec<Event>,
    links: Links,
}

impl EntryList {
    /// The events of operations `0..intervals.len()`, operation `op` spanning
    /// `intervals[op]` = `(call_ns, return_ns)`; `None` is +infinity.
    pub(crate) fn new(intervals: &[(u64, Option<u64>)]) -> Self {
        // (at infinity, time, is_return, op): the order described above.
        let mut order: Vec<(bool, u64, bool, usize)> = Vec::with_capacity(2 * intervals.len());
        for (op, &(call_ns, return_ns)) in intervals.iter().enumerate() {
            assert!(
                return_ns.is_none_or(|r| call_ns <= r),
                "operation {op} returns before its call"
            );
            order.push((false, call_ns, false, op));
            order.push((return_ns.is_none(), return_ns.unwrap_or(0), true, op));
        }
        order.sort_unstable();
        let mut return_event = vec![0; intervals.len()];
        for (position, &(_, _, is_return, op)) in order.iter().enumerate() {
            if is_return {
                return_event[op] = position;
            }
        }
        let events = order
            .iter()
            .map(|&(_, _, is_return, op)| match is_return {
                true => Event::Return { op },
                false => Event::Call {
                    op,
                    return_event: return_event[op],
                },
            })
            .collect();
        Self {
            events,
            links: Links::chain(order.len()),
        }
    }

    /// The first event still in play; `None` when every operation is linearized.
    pub(crate) fn first(&self) -> Option<usize> {
        self.links.first()
    }

    /// The event after `event`, which must be in play.
    pub(crate) fn next(&self, event: usize) -> Option<usize> {
        self.links.next(event)
    }

    /// What happens at `event`.
    pub(crate) fn event(&self, event: usize) -> Event {
        self.events[event]
    }

    /// The operations that could be linearized next: those called before the
    /// first return still in play.
    pub(crate) fn candidates(&self) -> Vec<usize> {
        let mut candidates = Vec::new();
        let mut cursor = self.first();
        while let Some(event) = cursor {
            match self.event(event) {
                Event::Call { op, .. } => candidates.push(op),
                Event::Return { .. } => break,
            }
            cursor = self.next(event);
        }
        candidates
    }

    /// Takes the operation called at `call` out of play: its call and its return.
    pub(crate) fn lift(&mut self, call: usize) {
        let return_event = self.return_of(call);
        self.links.unlink(call);
        self.links.unlink(return_event);
    }

    /// Puts back the operation most recently lifted, which was called at `call`.
    pub(crate) fn unlift(&mut self, call: usize) {
        let return_event = self.return_of(call);
        self.links.relink(return_event);
        self.links.relink(call);
    }

    fn return_of(&self, call: usize) -> usize {
        match self.events[call] {
            Event::Call { return_event, .. } => return_event,
            Event::Return { .. } => unreachable!("only calls are lifted"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ops(list: &EntryList) -> Vec<(char, usize)> {
        let mut ops = Vec::new();
        let mut cursor = list.first();
        while let Some(event) = cursor {
            ops.push(match list.event(event) {
                Event::Call { op, .. } => ('c', op),
                Event::Return { op } => ('r', op),
            });
            cursor = list.next(event);
        }
        ops
    }

    fn call_of(list: &EntryList, wanted: usize) -> usize {
        let mut cursor = list.first();
        while let Some(event) = cursor {
            if matches!(list.event(event), Event::Call { op, .. } if op == wanted) {
                return event;
            }
            cursor = list.next(event);
        }
        unreachable!("operation {wanted} is not in play");
    }

    #[test]
    fn events_are_in_time_order_calls_first_and_infinity_last() {
        let list = EntryList::new(&[(10, Some(20)), (20, Some(30)), (0, None), (5, Some(5))]);
        let expected = [
            ('c', 2),
            ('c', 3),
            ('r', 3),
            ('c', 0),
            ('c', 1),
            ('r', 0),
            ('r', 1),
            ('r', 2),
        ];
        assert_eq!(ops(&list), expected);
        assert_eq!(list.candidates(), [2, 3]);
    }

    #[test]
    fn lifting_and_unlifting_in_stack_order_restores_the_list() {
        let mut list = EntryList::new(&[(0, Some(10)), (1, Some(11)), (2, Some(12))]);
        let before = ops(&list);
        let second = call_of(&list, 1);
        list.lift(second);
        let first = call_of(&list, 0);
        list.lift(first);
        assert_eq!(ops(&list), [('c', 2), ('r', 2)]);
        let third = call_of(&list, 2);
        list.lift(third);
        assert_eq!(list.first(), None);
        list.unlift(third);
        list.unlift(first);
        list.unlift(second);
        assert_eq!(ops(&list), before);
    }

    #[test]
    fn an_empty_history_is_an_empty_list() {
        let list = EntryList::new(&[]);
        assert_eq!(list.first(), None);
        assert!(list.candidates().is_empty());
    }
}
