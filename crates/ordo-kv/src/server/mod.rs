//! One `ordo` node: `ordo serve` and `ordo dev`.
//! (Being written: see the issue-7 branch plan.)
