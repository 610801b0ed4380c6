//! [`NativeNode`]: the class `index.js` wraps; one per `RaftNode`.
//!
//! Life cycle: constructed with the options (nothing runs), started once
//! with the JS callbacks (the Ordo node is built then, because Ordo takes
//! its state machine and transport at construction), stopped once. Every
//! method that waits for the cluster is async; the getters read the node's
//! last known state without waiting.

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use bytes::Bytes;
use napi::bindgen_prelude::Buffer;
use napi_derive::napi;
use ordo::storage::{LogRead, LogStore, MemLogStore, SnapshotStore, WalConfig, WalLogStore};
use ordo::transport::tcp::TcpTransport;
use ordo::transport::{ClusterId, NetworkConfig};
use ordo::{MemberInfo, RaftConfig, RaftNode, RaftNodeBuilder};
use ordo_core::HardState;
use serde::Deserialize;
use serde_json::json;
use tokio::runtime::Handle;

use crate::error::BindingError;
use crate::events::{EventFn, forward_events};
use crate::js_transport::{JsTransport, SendFn};
use crate::node_names::{NodeNames, node_id_of};
use crate::options::{NAME_LABEL, NodeOptions};
use crate::state_machine::{ApplyFn, JsCallbacks, JsStateMachine, RestoreFn, SnapshotFn};

/// The cluster id nodes present to each other when the options name none.
const DEFAULT_CLUSTER_ID: &str = "ordo-node";

type OrdoNode = RaftNode<JsStateMachine>;

/// What exists once the node started.
struct Running {
    node: Arc<OrdoNode>,
    log_store: Arc<dyn LogStore>,
    js_transport: Option<JsTransport>,
}

/// The state `getState()` reports and `loadState()` takes (the seed's
/// `PersistentState`, plus the log position for information).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LoadedState {
    current_term: u64,
    voted_for: Option<String>,
}

/// Where a node is in its life.
enum Phase {
    Created { loaded: Option<HardState> },
    Starting,
    Running(Arc<Running>),
    Stopped,
}

/// The native side of one `RaftNode`.
#[napi]
pub struct NativeNode {
    options: NodeOptions,
    names: NodeNames,
    phase: Arc<Mutex<Phase>>,
}

#[napi]
impl NativeNode {
    /// Takes the options (JSON, see `options.rs`); nothing runs yet.
    #[napi(constructor)]
    pub fn new(options_json: String) -> napi::Result<Self> {
        let names = NodeNames::default();
        let options = NodeOptions::from_json(&options_json)
            .map_err(|error| error.into_napi(|id| id.to_string(), None))?;
        // Validate now, so `new RaftNode(...)` throws on bad options.
        options
            .raft_config(&names)
            .map_err(|error| error.into_napi(|id| id.to_string(), None))?;
        Ok(NativeNode {
            options,
            names,
            phase: Arc::new(Mutex::new(Phase::Created { loaded: None })),
        })
    }

    /// Builds the Ordo node with the JS callbacks and starts it.
    #[napi]
    pub async fn start(
        &self,
        apply: ApplyFn,
        snapshot: Option<SnapshotFn>,
        restore: Option<RestoreFn>,
        on_event: EventFn,
        send: Option<SendFn>,
    ) -> napi::Result<()> {
        let loaded = self.begin_start().map_err(|error| self.to_js(error))?;
        let callbacks = JsCallbacks {
            apply,
            snapshot,
            restore,
        };
        match self.launch(callbacks, on_event, send, loaded).await {
            Ok(running) => {
                *self.lock_phase() = Phase::Running(running);
                Ok(())
            }
            Err(error) => {
                *self.lock_phase() = Phase::Created { loaded };
                Err(self.to_js(error))
            }
        }
    }

    /// Stops the node (a leader hands over first); idempotent.
    #[napi]
    pub async fn stop(&self) {
        let previous = std::mem::replace(&mut *self.lock_phase(), Phase::Stopped);
        if let Phase::Running(running) = previous {
            running.node.stop().await;
        }
    }

    /// Proposes `command` (tagged bytes); resolves with its tagged result.
    #[napi]
    pub async fn propose(&self, command: Buffer) -> napi::Result<Buffer> {
        let running = self.running().map_err(|error| self.to_js(error))?;
        let command = Bytes::from(command.to_vec());
        match running.node.propose(command).await {
            Ok(result) => Ok(Buffer::from(result.to_vec())),
            Err(error) => Err(self.to_js(error.into())),
        }
    }

    /// Waits until this node applied everything committed when asked (a
    /// linearizable read barrier); resolves with the applied index.
    #[napi]
    pub async fn read_index(&self) -> napi::Result<f64> {
        let running = self.running().map_err(|error| self.to_js(error))?;
        match running.node.read_index(()).await {
            Ok(index) => Ok(index as f64),
            Err(error) => Err(self.to_js(error.into())),
        }
    }

    /// Adds a voter (copied as a learner first).
    #[napi]
    pub async fn add_node(
        &self,
        name: String,
        address: Option<String>,
        peer_address: Option<String>,
    ) -> napi::Result<()> {
        let running = self.running().map_err(|error| self.to_js(error))?;
        let id = self.names.learn(&name).map_err(|error| self.to_js(error))?;
        let mut info = MemberInfo::new(address.unwrap_or_default());
        info.peer_address = peer_address;
        info.labels.insert(NAME_LABEL.to_owned(), name);
        running
            .node
            .add_node(id, info)
            .await
            .map_err(|error| self.to_js(error.into()))
    }

    /// Removes a member.
    #[napi]
    pub async fn remove_node(&self, name: String) -> napi::Result<()> {
        let running = self.running().map_err(|error| self.to_js(error))?;
        let id = node_id_of(&name);
        running
            .node
            .remove_node(id)
            .await
            .map_err(|error| self.to_js(error.into()))
    }

    /// Hands leadership to `name` (this node must lead).
    #[napi]
    pub async fn transfer_leadership(&self, name: String) -> napi::Result<()> {
        let running = self.running().map_err(|error| self.to_js(error))?;
        let id = node_id_of(&name);
        running
            .node
            .transfer_leadership(id)
            .await
            .map_err(|error| self.to_js(error.into()))
    }

    /// Whether this node leads, as far as it knows.
    #[napi(getter)]
    pub fn is_leader(&self) -> bool {
        self.running().is_ok_and(|running| running.node.is_leader())
    }

    /// The leader's name, if one is known.
    #[napi(getter)]
    pub fn leader(&self) -> Option<String> {
        let running = self.running().ok()?;
        running.node.leader_id().map(|id| self.names.name_of(id))
    }

    /// The current term.
    #[napi(getter)]
    pub fn term(&self) -> f64 {
        match self.running() {
            Ok(running) => running.node.soft_state().term as f64,
            Err(_) => 0.0,
        }
    }

    /// The persistent state as JSON: `{currentTerm, votedFor, lastLogIndex}`.
    #[napi]
    pub fn get_state(&self) -> String {
        let (hard_state, last_index) = match &*self.lock_phase() {
            Phase::Running(running) => (
                running.log_store.hard_state(),
                running.log_store.last_index(),
            ),
            Phase::Created {
                loaded: Some(state),
            } => (*state, 0),
            _ => (HardState::default(), 0),
        };
        json!({
            "currentTerm": hard_state.term,
            "votedFor": hard_state.voted_for.map(|id| self.names.name_of(id)),
            "lastLogIndex": last_index,
        })
        .to_string()
    }

    /// Takes a state saved by `getState()` (JSON) before `start()`. It
    /// raises an in-memory node's term and vote; a node with a `dataDir`
    /// keeps Ordo's WAL, which is authoritative.
    #[napi]
    pub fn load_state(&self, state_json: String) -> napi::Result<()> {
        let state: LoadedState = serde_json::from_str(&state_json)
            .map_err(|error| self.to_js(BindingError::InvalidOptions(format!("state: {error}"))))?;
        let voted_for = match &state.voted_for {
            Some(name) => Some(self.names.learn(name).map_err(|error| self.to_js(error))?),
            None => None,
        };
        // The phase lock must be released before building an error: `to_js` takes it too.
        let taken = match &mut *self.lock_phase() {
            Phase::Created { loaded } => {
                *loaded = Some(HardState {
                    term: state.current_term,
                    voted_for,
                });
                true
            }
            _ => false,
        };
        if taken {
            Ok(())
        } else {
            Err(self.to_js(BindingError::AlreadyStarted))
        }
    }

    /// Delivers a message a JS transport received from peer `from`.
    #[napi]
    pub fn handle_message(&self, from: String, message_json: String) -> napi::Result<()> {
        let running = self.running().map_err(|error| self.to_js(error))?;
        let Some(transport) = &running.js_transport else {
            let error = BindingError::InvalidMessage(
                "this node uses the TCP transport, not setTransport()".into(),
            );
            return Err(self.to_js(error));
        };
        transport
            .receive(&from, &message_json)
            .map_err(|error| self.to_js(error))
    }
}

impl NativeNode {
    fn lock_phase(&self) -> MutexGuard<'_, Phase> {
        // Every transition is one assignment: a poisoned lock holds a whole phase.
        self.phase.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn running(&self) -> Result<Arc<Running>, BindingError> {
        match &*self.lock_phase() {
            Phase::Running(running) => Ok(running.clone()),
            _ => Err(BindingError::NotStarted),
        }
    }

    fn to_js(&self, error: BindingError) -> napi::Error {
        let known_leader = self
            .running()
            .ok()
            .and_then(|running| running.node.leader_id());
        error.into_napi(|id| self.names.name_of(id), known_leader)
    }

    /// Moves `Created` to `Starting`, answering the state `loadState` gave.
    fn begin_start(&self) -> Result<Option<HardState>, BindingError> {
        let mut phase = self.lock_phase();
        match &*phase {
            Phase::Created { loaded } => {
                let loaded = *loaded;
                *phase = Phase::Starting;
                Ok(loaded)
            }
            _ => Err(BindingError::AlreadyStarted),
        }
    }

    async fn launch(
        &self,
        callbacks: JsCallbacks,
        on_event: EventFn,
        send: Option<SendFn>,
        loaded: Option<HardState>,
    ) -> Result<Arc<Running>, BindingError> {
        let mut config = self.options.raft_config(&self.names)?;
        let has_snapshots = callbacks.snapshot.is_some() && callbacks.restore.is_some();
        let state_machine = JsStateMachine::new(callbacks, Handle::current());
        let snapshots = match (&self.options.data_dir, has_snapshots) {
            (Some(dir), true) => Some(
                SnapshotStore::open(Path::new(dir).join("snapshots"))
                    .map_err(ordo::RaftError::from)?,
            ),
            _ => None,
        };
        let transport = match send {
            Some(send) => {
                ChosenTransport::Js(JsTransport::new(config.node_id, send, self.names.clone()))
            }
            None => ChosenTransport::Tcp(self.bind_tcp(&mut config)?),
        };
        let js_transport = match &transport {
            ChosenTransport::Js(transport) => Some(transport.clone()),
            ChosenTransport::Tcp(_) => None,
        };
        let parts = NodeParts {
            config,
            state_machine,
            snapshots,
            transport,
        };
        let (node, log_store) = match &self.options.data_dir {
            Some(dir) => {
                let store = WalLogStore::open(Path::new(dir).join("wal"), WalConfig::default())
                    .map_err(ordo::RaftError::from)?;
                parts.build(Arc::new(store))?
            }
            None => {
                let store = MemLogStore::new();
                if let Some(state) = loaded {
                    store
                        .save_hard_state(state)
                        .map_err(ordo::RaftError::from)?;
                }
                parts.build(Arc::new(store))?
            }
        };
        let node = Arc::new(node);
        // Subscribed before start, so the first events are not missed.
        tokio::spawn(forward_events(node.events(), on_event, self.names.clone()));
        node.start().await?;
        Ok(Arc::new(Running {
            node,
            log_store,
            js_transport,
        }))
    }

    /// Binds Ordo's TCP transport on `peerAddress`, and records the bound
    /// address (a port 0 becomes the real one).
    fn bind_tcp(&self, config: &mut RaftConfig) -> Result<TcpTransport, BindingError> {
        let Some(listen) = &self.options.peer_address else {
            return Err(BindingError::InvalidOptions(
                "the TCP transport needs peerAddress (HOST:PORT to listen on), or call setTransport() first".into(),
            ));
        };
        let listen = listen.parse().map_err(|error| {
            BindingError::InvalidOptions(format!("peerAddress {listen:?}: {error}"))
        })?;
        let cluster = self
            .options
            .cluster_id
            .clone()
            .unwrap_or_else(|| DEFAULT_CLUSTER_ID.to_owned());
        let cluster = ClusterId::new(cluster)
            .map_err(|error| BindingError::InvalidOptions(error.to_string()))?;
        let transport = TcpTransport::bind(NetworkConfig::new(cluster, config.node_id, listen))
            .map_err(ordo::RaftError::from)?;
        config.peer_address = Some(transport.local_addr().to_string());
        Ok(transport)
    }
}

/// The transport a node was given: Ordo's TCP one, or the application's.
enum ChosenTransport {
    Tcp(TcpTransport),
    Js(JsTransport),
}

/// Everything a node is built from but its log store.
struct NodeParts {
    config: RaftConfig,
    state_machine: JsStateMachine,
    snapshots: Option<SnapshotStore>,
    transport: ChosenTransport,
}

impl NodeParts {
    /// Builds the node on `log_store` (generic: Ordo takes a concrete store).
    fn build<L: LogStore + 'static>(
        self,
        log_store: Arc<L>,
    ) -> Result<(OrdoNode, Arc<dyn LogStore>), BindingError> {
        let node = match self.transport {
            ChosenTransport::Tcp(transport) => with_snapshots(
                RaftNode::builder(
                    self.config,
                    self.state_machine,
                    log_store.clone(),
                    transport,
                ),
                self.snapshots,
            ),
            ChosenTransport::Js(transport) => with_snapshots(
                RaftNode::builder(
                    self.config,
                    self.state_machine,
                    log_store.clone(),
                    transport,
                ),
                self.snapshots,
            ),
        }
        .build()?;
        Ok((node, log_store))
    }
}

fn with_snapshots(
    builder: RaftNodeBuilder<JsStateMachine>,
    snapshots: Option<SnapshotStore>,
) -> RaftNodeBuilder<JsStateMachine> {
    match snapshots {
        Some(store) => builder.snapshot_store(store),
        None => builder,
    }
}
