//! A replicated task queue on Ordo.
pub mod command;
pub mod machine;
pub mod state;
