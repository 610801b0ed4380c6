#!/usr/bin/env node
// propose() throughput and latency through the binding: 3 nodes in one
// process, in-memory logs, Ordo's TCP transport on loopback, a JS state
// machine that answers each command with itself. N clients each propose in
// a loop on the leader and await the answer. The same shape in Rust, for
// the binding's cost: `cargo run --release -p ordo-node --example rust_propose_bench`.
//
//   npm run build:release && npm run bench   # BENCH_SECS (default 3), BENCH_CLIENTS (default 1,256)
'use strict';

const { RaftNode } = require('..');
const { freePort, waitFor } = require('../test/helpers');

const seconds = Number(process.env.BENCH_SECS || 3);
const clientCounts = (process.env.BENCH_CLIENTS || '1,256').split(',').map(Number);
const WARMUP_MS = 500;

async function startCluster() {
  const names = ['node-1', 'node-2', 'node-3'];
  const ports = [];
  for (let i = 0; i < names.length; i += 1) {
    ports.push(await freePort());
  }
  const peerOf = (name) => ({ id: name, address: name, peerAddress: `127.0.0.1:${ports[names.indexOf(name)]}` });
  const nodes = names.map((name) => {
    const node = new RaftNode({
      nodeId: name,
      peers: names.filter((peer) => peer !== name).map(peerOf),
      peerAddress: peerOf(name).peerAddress,
    });
    node.setStateMachine({ apply: async (command) => command });
    return node;
  });
  await Promise.all(nodes.map((node) => node.start()));
  const leader = await waitFor('a leader', () => nodes.find((node) => node.isLeader));
  return { nodes, leader };
}

async function runRow(leader, clients) {
  let recording = false;
  let done = false;
  const latenciesUs = [];
  let answered = 0;
  const client = async (id) => {
    let sequence = id;
    while (!done) {
      const started = process.hrtime.bigint();
      await leader.propose({ type: 'SET', key: `key-${sequence}`, value: 'value' });
      if (recording) {
        answered += 1;
        latenciesUs.push(Number(process.hrtime.bigint() - started) / 1000);
      }
      sequence += clients;
    }
  };
  const tasks = Array.from({ length: clients }, (_, id) => client(id));
  await new Promise((resolve) => setTimeout(resolve, WARMUP_MS));
  recording = true;
  const started = process.hrtime.bigint();
  await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
  recording = false;
  const elapsedSeconds = Number(process.hrtime.bigint() - started) / 1e9;
  done = true;
  await Promise.all(tasks);
  latenciesUs.sort((a, b) => a - b);
  const percentile = (p) => latenciesUs[Math.min(latenciesUs.length - 1, Math.ceil(latenciesUs.length * p) - 1)] || 0;
  const mean = latenciesUs.reduce((sum, value) => sum + value, 0) / Math.max(1, latenciesUs.length);
  return { clients, perSecond: answered / elapsedSeconds, mean, p50: percentile(0.5), p99: percentile(0.99) };
}

(async () => {
  const { nodes, leader } = await startCluster();
  console.log(`Node.js ${process.version}: 3 nodes, in-memory logs, TCP on loopback, JS apply, ${seconds} s per row`);
  console.log('| clients | proposals/s | mean latency | p50 | p99 |');
  console.log('|---|---|---|---|---|');
  for (const clients of clientCounts) {
    const row = await runRow(leader, clients);
    console.log(
      `| ${row.clients} | ${row.perSecond.toFixed(0)} | ${row.mean.toFixed(1)} µs | ${row.p50.toFixed(1)} µs | ${row.p99.toFixed(1)} µs |`,
    );
  }
  await Promise.all(nodes.map((node) => node.stop()));
})().catch((error) => {
  console.error(error);
  process.exit(1);
});
