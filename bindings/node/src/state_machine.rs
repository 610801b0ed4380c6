//! The application's JavaScript state machine, behind Ordo's [`StateMachine`].
//!
//! Ordo applies on a dedicated thread ([`RaftConfig::dedicated_apply_thread`]),
//! so this adapter may block there while JavaScript runs: each batch of
//! committed entries is one call into the JS thread (`apply(commands)`, the
//! wrapper awaits the user's async `apply` for each command in order), and
//! the apply thread waits for the promise. Nothing on the JS thread ever
//! waits for the apply thread, so the two cannot deadlock.
//!
//! Commands and results are opaque bytes here: `index.js` tags each one as
//! JSON or a Buffer (see `codec.js`), and marks a result whose `apply` threw.
//! Invariant: one result per command, in order; if JavaScript cannot be
//! reached (the process is exiting) every command of the batch gets an error
//! result, so no proposal waits forever.
//!
//! [`RaftConfig::dedicated_apply_thread`]: ordo::RaftConfig::dedicated_apply_thread

use std::io::{self, Read, Write};

use bytes::Bytes;
use napi::Status;
use napi::bindgen_prelude::{Buffer, Promise};
use napi::threadsafe_function::ThreadsafeFunction;
use ordo::{Entry, StateMachine};
use tokio::runtime::Handle;

/// `apply(commands: Buffer[]) => Promise<Buffer[]>` on the JS thread.
pub(crate) type ApplyFn =
    ThreadsafeFunction<Vec<Buffer>, Promise<Vec<Buffer>>, Vec<Buffer>, Status, false>;
/// `snapshot() => Promise<Buffer>` on the JS thread.
pub(crate) type SnapshotFn = ThreadsafeFunction<(), Promise<Buffer>, (), Status, false>;
/// `restore(data: Buffer) => Promise<boolean>` on the JS thread.
pub(crate) type RestoreFn = ThreadsafeFunction<Buffer, Promise<bool>, Buffer, Status, false>;

/// The tag of a result whose command could not be applied (`codec.js`).
const RESULT_TAG_ERROR: u8 = 3;

/// The JavaScript callbacks a node applies through.
pub(crate) struct JsCallbacks {
    pub(crate) apply: ApplyFn,
    pub(crate) snapshot: Option<SnapshotFn>,
    pub(crate) restore: Option<RestoreFn>,
}

/// Ordo's state machine, applying in JavaScript.
pub(crate) struct JsStateMachine {
    callbacks: JsCallbacks,
    /// The runtime whose thread pool the JS calls' futures are driven on.
    runtime: Handle,
    /// The index of the last entry applied: what `readIndex()` answers.
    applied_index: u64,
}

impl JsStateMachine {
    pub(crate) fn new(callbacks: JsCallbacks, runtime: Handle) -> Self {
        JsStateMachine {
            callbacks,
            runtime,
            applied_index: 0,
        }
    }

    fn call_apply(&self, commands: Vec<Buffer>) -> napi::Result<Vec<Buffer>> {
        self.runtime.block_on(async {
            let promise = self.callbacks.apply.call_async(commands).await?;
            promise.await
        })
    }
}

/// A result that rejects the proposal with `message` on the JS side.
fn error_result(message: &str) -> Bytes {
    let json = serde_json::json!({ "message": message }).to_string();
    let mut bytes = Vec::with_capacity(json.len() + 1);
    bytes.push(RESULT_TAG_ERROR);
    bytes.extend_from_slice(json.as_bytes());
    Bytes::from(bytes)
}

fn io_error(error: napi::Error) -> io::Error {
    io::Error::other(error.reason)
}

impl StateMachine for JsStateMachine {
    type Command = Bytes;
    type Response = Bytes;
    type Query = ();
    type Answer = u64;

    fn apply(&mut self, entries: Vec<Entry<Bytes>>) -> Vec<Bytes> {
        let count = entries.len();
        if let Some(last) = entries.last() {
            self.applied_index = last.index;
        }
        let commands = entries
            .into_iter()
            .map(|entry| Buffer::from(entry.command.to_vec()))
            .collect();
        match self.call_apply(commands) {
            Ok(results) if results.len() == count => results
                .into_iter()
                .map(|result| Bytes::from(result.to_vec()))
                .collect(),
            Ok(results) => {
                let message = format!(
                    "apply answered {} results for {count} commands",
                    results.len()
                );
                vec![error_result(&message); count]
            }
            Err(error) => vec![error_result(&format!("apply failed: {}", error.reason)); count],
        }
    }

    fn query(&self, _: ()) -> u64 {
        self.applied_index
    }

    fn snapshot(&self, out: &mut dyn Write) -> io::Result<()> {
        let Some(snapshot) = &self.callbacks.snapshot else {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "the state machine has no snapshot()",
            ));
        };
        let data = self
            .runtime
            .block_on(async { snapshot.call_async(()).await?.await })
            .map_err(io_error)?;
        out.write_all(&data)
    }

    fn restore(&mut self, input: &mut dyn Read) -> io::Result<()> {
        let Some(restore) = &self.callbacks.restore else {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "the state machine has no restore()",
            ));
        };
        let mut data = Vec::new();
        input.read_to_end(&mut data)?;
        self.runtime
            .block_on(async { restore.call_async(Buffer::from(data)).await?.await })
            .map_err(io_error)?;
        Ok(())
    }
}
