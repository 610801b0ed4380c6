// Shared by the tests: clusters in one process over a JS transport (with
// faults) or Ordo's TCP transport, and bounded waiting.
'use strict';

const net = require('node:net');
const nodeTest = require('node:test');
const { RaftNode } = require('..');

/** Every test is bounded: one that hangs fails after TEST_TIMEOUT_MS. */
const TEST_TIMEOUT_MS = 20_000;
function test(name, fn) {
  return nodeTest(name, { timeout: TEST_TIMEOUT_MS }, fn);
}

/** Waits until check() is truthy (returns it), polling; throws after timeoutMs. */
async function waitFor(what, check, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) {
      return value;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** A key-value state machine that records what it applied, in order. */
function recordingStateMachine() {
  const applied = [];
  const store = new Map();
  return {
    applied,
    store,
    apply: async (command) => {
      applied.push(command);
      if (command && command.type === 'FAIL') {
        throw new Error(`refused ${command.key}`);
      }
      if (command && command.type === 'SET') {
        store.set(command.key, command.value);
        return command.value;
      }
      return command;
    },
  };
}

/**
 * A JS transport between the nodes of one process. `dropRate` drops that
 * share of messages; a stopped or cut-off node neither sends nor receives.
 */
class MemoryNetwork {
  constructor({ dropRate = 0 } = {}) {
    this.dropRate = dropRate;
    this.nodes = new Map();
    this.down = new Set();
    this.sent = 0;
    this.dropped = 0;
  }

  transportFor(name) {
    return {
      send: (peerId, message) => {
        this.sent += 1;
        if (this.down.has(name) || this.down.has(peerId) || Math.random() < this.dropRate) {
          this.dropped += 1;
          return;
        }
        // Asynchronous like a real network; a copy, as a wire would make.
        const copy = JSON.parse(JSON.stringify(message));
        setImmediate(() => {
          const peer = this.nodes.get(peerId);
          if (peer && !this.down.has(peerId)) {
            try {
              peer.handleMessage(name, copy);
            } catch {
              // A stopped peer refuses messages: the network loses them.
            }
          }
        });
      },
    };
  }
}

/** Three (or `size`) started nodes named node-1..node-N on a MemoryNetwork. */
async function memoryCluster({ size = 3, dropRate = 0, onCreate } = {}) {
  const network = new MemoryNetwork({ dropRate });
  const names = Array.from({ length: size }, (_, i) => `node-${i + 1}`);
  const members = [];
  for (const name of names) {
    const node = new RaftNode({
      nodeId: name,
      peers: names.filter((peer) => peer !== name),
      electionTimeout: [150, 300],
      heartbeatInterval: 50,
      maxEntriesPerRequest: 100,
    });
    const stateMachine = recordingStateMachine();
    node.setStateMachine(stateMachine);
    node.setTransport(network.transportFor(name));
    network.nodes.set(name, node);
    const member = { name, node, stateMachine };
    if (onCreate) {
      onCreate(member);
    }
    members.push(member);
  }
  for (const { node } of members) {
    await node.start();
  }
  return { network, members, stop: () => Promise.all(members.map(({ node }) => node.stop())) };
}

/** The member that leads, once exactly one live member says so and the others agree. */
async function waitForLeader(members, timeoutMs = 10_000) {
  return waitFor(
    'a leader all live members agree on',
    () => {
      const leaders = members.filter(({ node }) => node.isLeader);
      if (leaders.length !== 1) {
        return null;
      }
      const [leader] = leaders;
      return members.every(({ node }) => node === leader.node || node.leader === leader.name) ? leader : null;
    },
    timeoutMs,
  );
}

/** A free TCP port on 127.0.0.1 (released before use: a tiny race, fine for tests). */
function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

module.exports = { test, waitFor, recordingStateMachine, MemoryNetwork, memoryCluster, waitForLeader, freePort };
