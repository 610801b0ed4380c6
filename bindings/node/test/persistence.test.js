// dataDir: a node keeps its log in Ordo's WAL and re-applies it on restart;
// getState/loadState for users who persist term and vote themselves.
'use strict';

const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { RaftNode } = require('..');
const { test, waitFor, recordingStateMachine, freePort } = require('./helpers');

async function singleNode(dataDir) {
  const node = new RaftNode({
    nodeId: 'only',
    peers: [],
    dataDir,
    peerAddress: `127.0.0.1:${await freePort()}`,
  });
  const stateMachine = recordingStateMachine();
  node.setStateMachine(stateMachine);
  await node.start();
  await waitFor('the single node leads', () => node.isLeader);
  return { node, stateMachine };
}

test('with dataDir, a restarted node re-applies its committed log from the WAL', async () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ordo-node-'));
  try {
    const first = await singleNode(dataDir);
    await first.node.propose({ type: 'SET', key: 'kept', value: 42 });
    const { currentTerm } = first.node.getState();
    await first.node.stop();

    const second = await singleNode(dataDir);
    await second.node.readIndex();
    assert.equal(second.stateMachine.store.get('kept'), 42);
    assert.ok(second.node.term > currentTerm, 'the term survived the restart and grew');
    await second.node.stop();
  } finally {
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
});

test('loadState before start sets the term an in-memory node starts from', async () => {
  const node = new RaftNode({ nodeId: 'n1', peers: ['n2'] });
  node.loadState({ currentTerm: 7, votedFor: 'n2' });
  assert.deepEqual(node.getState(), { currentTerm: 7, votedFor: 'n2', lastLogIndex: 0 });
  node.setStateMachine({ apply: async () => null });
  node.setTransport({ send: () => {} });
  await node.start();
  assert.equal(node.getState().currentTerm, 7);
  assert.equal(node.getState().votedFor, 'n2');
  assert.throws(() => node.loadState({ currentTerm: 9, votedFor: null }), /already started/);
  await node.stop();
});
