//! The history of one partition as a time-ordered, doubly-linked list of call and
//! return events. The search removes an operation's two events when it linearizes
//! the operation and puts them back, in the opposite order, when it backtracks:
//! Knuth's dancing links, with indices into a `Vec` instead of pointers.

/// Marks "no node" in a link.
const NONE: usize = usize::MAX;

/// Index of the sentinel node in front of the first event.
const HEAD: usize = 0;

/// An event of the list. `op` indexes the operations the list was built from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Event {
    /// An operation is called; its return event is node `return_node`.
    Call { op: usize, return_node: usize },
    /// An operation returns.
    Return { op: usize },
}

/// One operation's interval. `return_ns: None` is +infinity (indeterminate).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Interval {
    pub(crate) call_ns: u64,
    pub(crate) return_ns: Option<u64>,
}

#[derive(Clone, Debug)]
struct Node {
    /// `None` only for the head sentinel.
    event: Option<Event>,
    prev: usize,
    next: usize,
}

/// The events still in play, in time order.
///
/// Invariant: a call node is linked exactly when its return node is, and then
/// the call comes first. Lifting and unlifting happen in stack order, so the
/// links saved in a lifted node are still right when it is put back.
#[derive(Clone, Debug)]
pub(crate) struct EntryList {
    nodes: Vec<Node>,
}

/// Events of equal time: calls first, so operations that touch are concurrent;
/// then by operation, so the order never depends on the sort.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct EventOrder {
    /// `true` for the +infinity of an indeterminate return.
    at_infinity: bool,
    time_ns: u64,
    is_return: bool,
    op: usize,
}

impl EntryList {
    /// The events of `intervals`, operation `i` being `intervals[i]`.
    pub(crate) fn new(intervals: &[Interval]) -> Self {
        let mut order = Vec::with_capacity(2 * intervals.len());
        for (op, interval) in intervals.iter().enumerate() {
            let call = interval.call_ns;
            order.push(EventOrder {
                at_infinity: false,
                time_ns: call,
                is_return: false,
                op,
            });
            let (at_infinity, time_ns) = match interval.return_ns {
                Some(return_ns) => (false, return_ns),
                None => (true, 0),
            };
            order.push(EventOrder {
                at_infinity,
                time_ns,
                is_return: true,
                op,
            });
        }
        order.sort_unstable();

        let mut return_node = vec![NONE; intervals.len()];
        for (position, event) in order.iter().enumerate() {
            if event.is_return {
                return_node[event.op] = position + 1;
            }
        }
        let head = Node {
            event: None,
            prev: NONE,
            next: if order.is_empty() { NONE } else { 1 },
        };
        let mut nodes = Vec::with_capacity(order.len() + 1);
        nodes.push(head);
        for (position, event) in order.iter().enumerate() {
            let op = event.op;
            let node = position + 1;
            let next = if node == order.len() { NONE } else { node + 1 };
            let event = if event.is_return {
                Event::Return { op }
            } else {
                Event::Call {
                    op,
                    return_node: return_node[op],
                }
            };
            nodes.push(Node {
                event: Some(event),
                prev: node - 1,
                next,
            });
        }
        Self { nodes }
    }

    /// The first event still in play, or `None` when every operation is linearized.
    pub(crate) fn first(&self) -> Option<usize> {
        self.link(self.nodes[HEAD].next)
    }

    /// The event after `node`.
    pub(crate) fn next(&self, node: usize) -> Option<usize> {
        self.link(self.nodes[node].next)
    }

    /// The event at `node`.
    pub(crate) fn event(&self, node: usize) -> Event {
        match self.nodes[node].event {
            Some(event) => event,
            None => unreachable!("the head sentinel is never handed out"),
        }
    }

    /// The operations that could be linearized next: those called before the
    /// first return still in play.
    pub(crate) fn candidates(&self) -> Vec<usize> {
        let mut candidates = Vec::new();
        let mut cursor = self.first();
        while let Some(node) = cursor {
            match self.event(node) {
                Event::Call { op, .. } => candidates.push(op),
                Event::Return { .. } => break,
            }
            cursor = self.next(node);
        }
        candidates
    }

    /// Takes the operation called at `call_node` out of play: its call and its
    /// return.
    pub(crate) fn lift(&mut self, call_node: usize) {
        let Event::Call { return_node, .. } = self.event(call_node) else {
            unreachable!("only calls are lifted");
        };
        self.unlink(call_node);
        self.unlink(return_node);
    }

    /// Puts back the operation most recently lifted, which was called at
    /// `call_node`.
    pub(crate) fn unlift(&mut self, call_node: usize) {
        let Event::Call { return_node, .. } = self.event(call_node) else {
            unreachable!("only calls are unlifted");
        };
        self.relink(return_node);
        self.relink(call_node);
    }

    fn link(&self, node: usize) -> Option<usize> {
        (node != NONE).then_some(node)
    }

    fn unlink(&mut self, node: usize) {
        let Node { prev, next, .. } = self.nodes[node];
        self.nodes[prev].next = next;
        if next != NONE {
            self.nodes[next].prev = prev;
        }
    }

    fn relink(&mut self, node: usize) {
        let Node { prev, next, .. } = self.nodes[node];
        assert_eq!(self.nodes[prev].next, next, "unlift out of stack order");
        self.nodes[prev].next = node;
        if next != NONE {
            self.nodes[next].prev = node;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn interval(call_ns: u64, return_ns: Option<u64>) -> Interval {
        Interval { call_ns, return_ns }
    }

    fn events(list: &EntryList) -> Vec<Event> {
        let mut events = Vec::new();
        let mut cursor = list.first();
        while let Some(node) = cursor {
            events.push(list.event(node));
            cursor = list.next(node);
        }
        events
    }

    fn ops(list: &EntryList) -> Vec<(char, usize)> {
        let kind = |event| match event {
            Event::Call { op, .. } => ('c', op),
            Event::Return { op } => ('r', op),
        };
        events(list).into_iter().map(kind).collect()
    }

    #[test]
    fn events_are_in_time_order_calls_first_and_infinity_last() {
        let list = EntryList::new(&[
            interval(10, Some(20)),
            interval(20, Some(30)),
            interval(0, None),
            interval(5, Some(5)),
        ]);
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
        let mut list = EntryList::new(&[
            interval(0, Some(10)),
            interval(1, Some(11)),
            interval(2, Some(12)),
        ]);
        let before = events(&list);
        let call_node = |list: &EntryList, op| {
            let mut cursor = list.first();
            while let Some(node) = cursor {
                if matches!(list.event(node), Event::Call { op: found, .. } if found == op) {
                    return node;
                }
                cursor = list.next(node);
            }
            unreachable!("operation {op} is not in play");
        };
        let second = call_node(&list, 1);
        list.lift(second);
        let first = call_node(&list, 0);
        list.lift(first);
        assert_eq!(ops(&list), [('c', 2), ('r', 2)]);
        let third = call_node(&list, 2);
        list.lift(third);
        assert_eq!(list.first(), None);
        list.unlift(third);
        list.unlift(first);
        list.unlift(second);
        assert_eq!(events(&list), before);
    }

    #[test]
    fn an_empty_history_is_an_empty_list() {
        let list = EntryList::new(&[]);
        assert_eq!(list.first(), None);
        assert!(list.candidates().is_empty());
    }
}
