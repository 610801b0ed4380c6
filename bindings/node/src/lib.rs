//! `@ordo/raft`: Ordo's Raft runtime for Node.js, as a napi-rs addon.
//!
//! The JavaScript package (`index.js`, `index.d.ts`) is the API users see:
//! the seed's `RaftNode` with its `EventEmitter`, options and error classes.
//! This crate is its native half, one class, [`NativeNode`], over Ordo's
//! real [`ordo::RaftNode`]: Ordo's WAL when `dataDir` is given (memory
//! otherwise), Ordo's TCP transport unless a JS transport is set.
//!
//! ```text
//!  JS thread                          Rust (napi's Tokio runtime, Ordo's threads)
//!  RaftNode (index.js) ── calls ────► NativeNode ──► ordo::RaftNode
//!    apply(commands)  ◄── batch ───── JsStateMachine (Ordo's apply thread, waits)
//!    emit(name, ...)  ◄── events ──── forward_events (a task reading Ordo's events)
//!    transport.send   ◄── messages ── JsTransport (only with setTransport)
//!    handleMessage    ─── messages ─► JsTransport → the node's inbox
//! ```
//!
//! Invariants: the JS thread never blocks on Rust (every call that waits for
//! the cluster returns a promise); the Rust threads that wait for JS (the
//! apply thread) are Ordo's own, never a Tokio worker. Commands and results
//! cross as tagged bytes (`codec.js`), options and events as JSON.

mod error;
mod events;
mod js_transport;
mod native_node;
mod node_names;
mod options;
mod state_machine;

pub use native_node::NativeNode;
