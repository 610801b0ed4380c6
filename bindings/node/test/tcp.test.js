// Three nodes in one process over Ordo's own TCP transport (the default).
'use strict';

const assert = require('node:assert/strict');
const { RaftNode, NotLeaderError } = require('..');
const { test, waitFor, recordingStateMachine, waitForLeader, freePort } = require('./helpers');

async function tcpCluster() {
  const names = ['node-1', 'node-2', 'node-3'];
  const ports = await Promise.all(names.map(() => freePort()));
  const peerOf = (name) => ({
    id: name,
    address: `${name}.clients.example:8080`,
    peerAddress: `127.0.0.1:${ports[names.indexOf(name)]}`,
  });
  const members = names.map((name) => {
    const self = peerOf(name);
    const node = new RaftNode({
      nodeId: name,
      peers: names.filter((peer) => peer !== name).map(peerOf),
      address: self.address,
      peerAddress: self.peerAddress,
      electionTimeout: [150, 300],
      heartbeatInterval: 50,
    });
    const stateMachine = recordingStateMachine();
    node.setStateMachine(stateMachine);
    return { name, node, stateMachine, address: self.address };
  });
  await Promise.all(members.map(({ node }) => node.start()));
  return members;
}

test('over TCP: replication, a redirect with the leader address, and a new leader after a stop', async () => {
  const members = await tcpCluster();
  try {
    const leader = await waitForLeader(members);
    assert.equal(await leader.node.propose({ type: 'SET', key: 'x', value: 1 }), 1);
    const follower = members.find((member) => member !== leader);
    await assert.rejects(follower.node.propose({ type: 'SET', key: 'y', value: 2 }), (error) => {
      assert.ok(error instanceof NotLeaderError, `got ${error}`);
      assert.equal(error.leaderId, leader.name);
      assert.equal(error.leaderAddress, leader.address);
      return true;
    });
    // A linearizable read on a follower sees the acknowledged write.
    await follower.node.readIndex();
    assert.equal(follower.stateMachine.store.get('x'), 1);

    await leader.node.stop();
    const survivors = members.filter((member) => member !== leader);
    const next = await waitForLeader(survivors);
    assert.equal(await next.node.propose({ type: 'SET', key: 'z', value: 3 }), 3);
    for (const member of survivors) {
      await waitFor(`${member.name} applied z`, () => member.stateMachine.store.get('z') === 3);
      assert.equal(member.stateMachine.store.get('x'), 1);
    }
  } finally {
    await Promise.all(members.map(({ node }) => node.stop()));
  }
});

test('invalid options throw at construction, naming the problem', () => {
  assert.throws(
    () => new RaftNode({ nodeId: 'a', peers: ['a'] }),
    (error) => error.kind === 'Config' && /itself/.test(error.message),
  );
  assert.throws(() => new RaftNode({ nodeId: 'a', peers: [], electionTimeoutt: [1, 2] }), /unknown field/);
});

test('start without peerAddress or a JS transport fails with a clear error', async () => {
  const node = new RaftNode({ nodeId: 'solo', peers: ['other'] });
  node.setStateMachine({ apply: async () => null });
  await assert.rejects(node.start(), /peerAddress/);
  await node.stop();
});
