//! Raft's safety properties, checked against a whole cluster after every step.
