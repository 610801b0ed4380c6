//! Node names (the seed's string ids, `"node-1"`) and Ordo's numeric ids.
//!
//! Invariant: a name's id is the same in every process (a hash of the name,
//! no coordination), is above 0, and fits in 53 bits, so the ids inside the
//! JSON messages a JS transport carries survive `JSON.parse` exactly.
//! Two names of one cluster that hash alike are refused at configuration.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use ordo_core::NodeId;

use crate::error::BindingError;

/// The largest id a JavaScript number holds exactly (2^53 - 1).
const JS_SAFE_INTEGER_MAX: u64 = (1 << 53) - 1;

/// The id of the node called `name`: FNV-1a over its bytes, cut to 53 bits.
pub(crate) fn node_id_of(name: &str) -> NodeId {
    const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;
    let hash = name.bytes().fold(FNV_OFFSET, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(FNV_PRIME)
    });
    match hash & JS_SAFE_INTEGER_MAX {
        0 => 1,
        id => id,
    }
}

/// The names this node knows, by id: its own, its configured peers', and
/// those added through it. Shared by the handle and the event forwarder.
#[derive(Clone, Debug, Default)]
pub(crate) struct NodeNames {
    names: Arc<Mutex<BTreeMap<NodeId, String>>>,
}

impl NodeNames {
    /// Learns `name`, and answers its id.
    ///
    /// # Errors
    /// [`BindingError::NameCollision`] if another known name has the same id.
    pub(crate) fn learn(&self, name: &str) -> Result<NodeId, BindingError> {
        if name.is_empty() {
            return Err(BindingError::InvalidOptions(
                "a node id must not be empty".into(),
            ));
        }
        let id = node_id_of(name);
        let mut names = self.lock();
        match names.get(&id) {
            Some(known) if known != name => Err(BindingError::NameCollision {
                first: known.clone(),
                second: name.to_owned(),
            }),
            Some(_) => Ok(id),
            None => {
                names.insert(id, name.to_owned());
                Ok(id)
            }
        }
    }

    /// The name of `id`; a node this one never heard named (added through
    /// another node) is shown by its number.
    pub(crate) fn name_of(&self, id: NodeId) -> String {
        self.lock()
            .get(&id)
            .cloned()
            .unwrap_or_else(|| id.to_string())
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<NodeId, String>> {
        // The map is never left half-updated: a poisoned lock still holds it whole.
        self.names.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl NodeNames {
    /// Learns the names members carry in their logged [`ordo::MemberInfo`]
    /// (label [`NAME_LABEL`](crate::options::NAME_LABEL)), so a node added
    /// through another node is named here too. A colliding name is skipped:
    /// the node that added it refused it already.
    pub(crate) fn learn_members(&self, members: &BTreeMap<NodeId, ordo::MemberInfo>) {
        for info in members.values() {
            if let Some(name) = info.labels.get(crate::options::NAME_LABEL) {
                let _ = self.learn(name);
            }
        }
    }
}
