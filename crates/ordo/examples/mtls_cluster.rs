//! A three-node Raft cluster over TCP with mutual TLS, in one process:
//! a throwaway cluster CA, one certificate per node naming it
//! `ordo://CLUSTER/node/N` (see `ordo::transport::tls`), each node's
//! transport given its [`PeerTls`], then a few commands proposed to the
//! leader and read back from every node.
//!
//! ```sh
//! cargo run -p ordo --example mtls_cluster
//! ```
//!
//! The gRPC transport (feature `grpc`) takes the same `PeerTls` in the same
//! `NetworkConfig`: `GrpcTransport::bind(config)` instead of
//! `TcpTransport::bind(config)` is the only change.
//!
//! In production the certificates come from files (`PeerTls::from_pem_files`,
//! reloaded with `PeerTls::reload`), made for instance with `ordo cert`.
//! `tests/example_mtls_cluster.rs` runs this example on every `cargo test -p ordo`.

use std::io::{Read, Write};
use std::sync::Arc;
use std::time::Duration;

use ordo::storage::MemLogStore;
use ordo::transport::tcp::TcpTransport;
use ordo::transport::tls::{NodeIdentity, PeerTls};
use ordo::transport::{ClusterId, NetworkConfig};
use ordo::{Entry, NodeId, Peer, RaftConfig, RaftNode, Role, StateMachine};
use rcgen::{
    BasicConstraints, CertificateParams, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, SanType,
};

type Error = Box<dyn std::error::Error>;

const IDS: [NodeId; 3] = [1, 2, 3];

/// The replicated state: a running total.
#[derive(Debug, Default)]
struct Counter {
    total: u64,
}

impl StateMachine for Counter {
    type Command = u64;
    type Response = u64;
    type Query = ();
    type Answer = u64;

    fn apply(&mut self, entries: Vec<Entry<u64>>) -> Vec<u64> {
        entries
            .into_iter()
            .map(|entry| {
                self.total += entry.command;
                self.total
            })
            .collect()
    }

    fn query(&self, _query: ()) -> u64 {
        self.total
    }

    fn snapshot(&self, out: &mut dyn Write) -> std::io::Result<()> {
        out.write_all(&self.total.to_be_bytes())
    }

    fn restore(&mut self, input: &mut dyn Read) -> std::io::Result<()> {
        let mut total = [0u8; 8];
        input.read_exact(&mut total)?;
        self.total = u64::from_be_bytes(total);
        Ok(())
    }
}

/// A cluster CA, and a peer TLS for each node signed by it.
fn make_peer_tls(cluster: &ClusterId) -> Result<Vec<PeerTls>, Error> {
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_key = KeyPair::generate()?;
    let ca_pem = ca_params.self_signed(&ca_key)?.pem();
    let ca = Issuer::new(ca_params, ca_key);
    IDS.iter()
        .map(|&id| {
            let mut params = CertificateParams::new(Vec::<String>::new())?;
            let uri = NodeIdentity::uri(cluster, id);
            params.subject_alt_names = vec![SanType::URI(uri.try_into()?)];
            // A node both accepts and dials.
            params.extended_key_usages = vec![
                ExtendedKeyUsagePurpose::ServerAuth,
                ExtendedKeyUsagePurpose::ClientAuth,
            ];
            let key = KeyPair::generate()?;
            let certificate = params.signed_by(&key, &ca)?.pem();
            let key = key.serialize_pem();
            Ok(PeerTls::from_pem(
                certificate.as_bytes(),
                key.as_bytes(),
                ca_pem.as_bytes(),
            )?)
        })
        .collect()
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let cluster = ClusterId::new("mtls-example")?;
    let any_port = "127.0.0.1:0".parse()?;
    let mut transports = Vec::new();
    for (&id, tls) in IDS.iter().zip(make_peer_tls(&cluster)?) {
        let network = NetworkConfig {
            peer_tls: Some(tls),
            ..NetworkConfig::new(cluster.clone(), id, any_port)
        };
        transports.push(TcpTransport::bind(network)?);
    }
    let addresses: Vec<String> = transports
        .iter()
        .map(|transport| transport.local_addr().to_string())
        .collect();
    let mut nodes = Vec::new();
    for (&id, transport) in IDS.iter().zip(transports) {
        let peers = IDS
            .iter()
            .zip(&addresses)
            .filter(|(peer, _)| **peer != id)
            .map(|(&peer, address)| {
                Peer::new(peer, address.clone()).with_peer_address(address.clone())
            })
            .collect();
        let own = transport.local_addr().to_string();
        let config = RaftConfig {
            node_id: id,
            address: own.clone(),
            peer_address: Some(own),
            peers,
            ..RaftConfig::default()
        };
        let node = RaftNode::new(
            config,
            Counter::default(),
            Arc::new(MemLogStore::new()),
            transport,
        )?;
        node.start().await?;
        nodes.push(node);
    }

    let leader = wait_for_leader(&nodes).await?;
    println!("node {} leads, over mutual TLS", leader.id());
    for amount in [1, 2, 3, 4] {
        let total = leader.propose(amount).await?;
        println!("proposed {amount}: total {total}");
    }
    for node in &nodes {
        let total = wait_for_total(node, 10).await?;
        println!("node {} applied total {total}", node.id());
    }
    for node in &nodes {
        node.stop().await;
    }
    println!("all nodes agree");
    Ok(())
}

async fn wait_for_leader(nodes: &[RaftNode<Counter>]) -> Result<&RaftNode<Counter>, Error> {
    for _ in 0..500 {
        if let Some(leader) = nodes
            .iter()
            .find(|node| node.soft_state().role == Role::Leader)
        {
            return Ok(leader);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Err("no leader within 10 s".into())
}

async fn wait_for_total(node: &RaftNode<Counter>, expected: u64) -> Result<u64, Error> {
    for _ in 0..500 {
        let total = node.read_stale(()).await?;
        if total == expected {
            return Ok(total);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Err(format!("node {} never applied a total of {expected}", node.id()).into())
}
