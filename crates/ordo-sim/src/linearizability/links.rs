//! Doubly-linked lists over `Vec` indices with Knuth's dancing links: an element
//! taken out remembers its neighbours, so putting elements back in the reverse
//! order of their removal restores the list exactly.

/// Marks "no element" in a link.
const NONE: usize = usize::MAX;

/// A list of the elements `0..len`, initially in that order.
///
/// Invariant: the unlinked elements were unlinked after every element unlinked
/// before them was, and are relinked in reverse (stack) order.
#[derive(Clone, Debug)]
pub(crate) struct Links {
    /// `prev[e]` and `next[e]` for every element; index `len` is the head
    /// sentinel, in front of the first element.
    prev: Vec<usize>,
    next: Vec<usize>,
}

impl Links {
    /// The list `0, 1, .., len - 1`.
    pub(crate) fn chain(len: usize) -> Self {
        let head = len;
        let mut prev: Vec<usize> = (0..len).map(|element| element.wrapping_sub(1)).collect();
        if len > 0 {
            prev[0] = head;
        }
        prev.push(NONE);
        let mut next: Vec<usize> = (1..=len).collect();
        if len > 0 {
            next[len - 1] = NONE;
        }
        next.push(if len > 0 { 0 } else { NONE });
        Self { prev, next }
    }

    /// The first element still linked.
    pub(crate) fn first(&self) -> Option<usize> {
        self.link(self.next[self.head()])
    }

    /// The element after `element`, which must be linked.
    pub(crate) fn next(&self, element: usize) -> Option<usize> {
        self.link(self.next[element])
    }

    /// Takes `element` out of the list.
    pub(crate) fn unlink(&mut self, element: usize) {
        let (prev, next) = (self.prev[element], self.next[element]);
        self.next[prev] = next;
        if next != NONE {
            self.prev[next] = prev;
        }
    }

    /// Puts back `element`, the most recently unlinked element still out.
    pub(crate) fn relink(&mut self, element: usize) {
        let (prev, next) = (self.prev[element], self.next[element]);
        assert_eq!(self.next[prev], next, "relinked out of stack order");
        self.next[prev] = element;
        if next != NONE {
            self.prev[next] = element;
        }
    }

    fn head(&self) -> usize {
        self.next.len() - 1
    }

    fn link(&self, element: usize) -> Option<usize> {
        (element != NONE).then_some(element)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn elements(links: &Links) -> Vec<usize> {
        let mut elements = Vec::new();
        let mut cursor = links.first();
        while let Some(element) = cursor {
            elements.push(element);
            cursor = links.next(element);
        }
        elements
    }

    #[test]
    fn unlinking_and_relinking_in_stack_order_restores_the_list() {
        let mut links = Links::chain(4);
        assert_eq!(elements(&links), [0, 1, 2, 3]);
        links.unlink(1);
        links.unlink(0);
        links.unlink(3);
        assert_eq!(elements(&links), [2]);
        links.unlink(2);
        assert_eq!(links.first(), None);
        links.relink(2);
        links.relink(3);
        assert_eq!(elements(&links), [2, 3]);
        links.relink(0);
        links.relink(1);
        assert_eq!(elements(&links), [0, 1, 2, 3]);
    }

    #[test]
    fn an_empty_chain_has_no_first() {
        assert_eq!(Links::chain(0).first(), None);
        assert_eq!(elements(&Links::chain(1)), [0]);
    }

    #[test]
    #[should_panic(expected = "stack order")]
    fn relinking_out_of_order_is_a_bug() {
        let mut links = Links::chain(3);
        links.unlink(0);
        links.unlink(1);
        links.relink(0);
    }
}
