// Three processes running examples/kv-server.ts (compiled to dist/ by
// `npm test`): a write on a follower is answered 307 to the leader, and
// killing the leader's process loses no acknowledged write.
'use strict';

const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const path = require('node:path');
const { test, waitFor, freePort } = require('./helpers');

const SERVER = path.join(__dirname, '..', 'dist', 'examples', 'kv-server.js');

async function startCluster() {
  const names = ['node-1', 'node-2', 'node-3'];
  const members = [];
  for (const name of names) {
    members.push({ name, http: `127.0.0.1:${await freePort()}`, raft: `127.0.0.1:${await freePort()}` });
  }
  const cluster = members.map((m) => `${m.name}=${m.http}=${m.raft}`).join(',');
  for (const member of members) {
    member.process = spawn(process.execPath, [SERVER], {
      env: { ...process.env, NODE_ID: member.name, CLUSTER: cluster },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    member.output = '';
    member.process.stdout.on('data', (chunk) => (member.output += chunk));
    member.process.stderr.on('data', (chunk) => (member.output += chunk));
  }
  for (const member of members) {
    await waitFor(`${member.name} ready`, () => member.output.includes(`ready ${member.name}`));
  }
  return members;
}

async function status(member) {
  try {
    const response = await fetch(`http://${member.http}/status`);
    return await response.json();
  } catch {
    return null;
  }
}

async function leaderOf(members) {
  return waitFor('a leader every live process agrees on', async () => {
    const statuses = await Promise.all(members.map(status));
    const leaders = statuses.filter((s) => s && s.isLeader);
    if (leaders.length !== 1 || !statuses.every((s) => s && s.leader === leaders[0].nodeId)) {
      return null;
    }
    return members.find((m) => m.name === leaders[0].nodeId);
  });
}

function post(member, key, value) {
  return fetch(`http://${member.http}/kv/${key}`, {
    method: 'POST',
    body: JSON.stringify({ value }),
    redirect: 'manual',
  });
}

test('3 processes: 307 from a follower to the leader, and no acknowledged write lost when the leader is killed', async () => {
  const members = await startCluster();
  try {
    const leader = await leaderOf(members);
    const follower = members.find((m) => m !== leader);

    const redirected = await post(follower, 'foo', 'bar');
    assert.equal(redirected.status, 307);
    assert.equal(redirected.headers.get('location'), `http://${leader.http}/kv/foo`);

    const acknowledged = [];
    for (let i = 0; i < 20; i += 1) {
      const response = await post(leader, `k${i}`, `v${i}`);
      assert.equal(response.status, 200);
      acknowledged.push(i);
    }

    leader.process.kill('SIGKILL');
    const survivors = members.filter((m) => m !== leader);
    const next = await leaderOf(survivors);
    assert.notEqual(next.name, leader.name);
    assert.equal((await post(next, 'after', 'kill')).status, 200);

    for (const member of survivors) {
      for (const i of acknowledged) {
        const response = await fetch(`http://${member.http}/kv/k${i}`);
        assert.equal(response.status, 200, `${member.name} lost k${i}`);
        assert.equal((await response.json()).value, `v${i}`);
      }
      const after = await fetch(`http://${member.http}/kv/after`);
      assert.equal((await after.json()).value, 'kill');
    }
  } finally {
    for (const member of members) {
      member.process.kill('SIGKILL');
    }
  }
});
