//! The HTTP client and the command-line verbs built on it.
//! (Being written: see the issue-7 branch plan.)
