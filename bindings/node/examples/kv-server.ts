// The seed's tutorial made real: a replicated key-value HTTP service, one
// process per node, on @ordo/raft over Ordo's TCP transport.
//
//   npm run build && npm run build:examples
//   NODE_ID=node-1 node dist/examples/kv-server.js &
//   NODE_ID=node-2 node dist/examples/kv-server.js &
//   NODE_ID=node-3 node dist/examples/kv-server.js &
//   curl -L -X POST localhost:8001/kv/foo -d '{"value":"bar"}'   # -L follows a 307 to the leader
//   curl localhost:8002/kv/foo
//
// CLUSTER (default: three nodes on localhost) lists `name=httpHost:port=raftHost:port`,
// comma-separated; DATA_DIR (optional) keeps the log in Ordo's WAL.

import http from 'node:http';
import { RaftNode, RaftEvent, NotLeaderError, StateMachine } from '@ordo/raft';

type KVCommand =
  | { type: 'SET'; key: string; value: string }
  | { type: 'DELETE'; key: string };

interface Member {
  id: string;
  httpAddress: string;
  raftAddress: string;
}

const DEFAULT_CLUSTER = 'node-1=127.0.0.1:8001=127.0.0.1:9001,node-2=127.0.0.1:8002=127.0.0.1:9002,node-3=127.0.0.1:8003=127.0.0.1:9003';

function parseCluster(spec: string): Member[] {
  return spec.split(',').map((entry) => {
    const [id, httpAddress, raftAddress] = entry.split('=');
    if (!id || !httpAddress || !raftAddress) {
      throw new Error(`CLUSTER entry ${JSON.stringify(entry)} is not name=httpHost:port=raftHost:port`);
    }
    return { id, httpAddress, raftAddress };
  });
}

const members = parseCluster(process.env.CLUSTER ?? DEFAULT_CLUSTER);
const self = members.find((member) => member.id === process.env.NODE_ID);
if (!self) {
  throw new Error(`NODE_ID must be one of ${members.map((member) => member.id).join(', ')}`);
}

// In-memory key-value store: the state machine applies committed commands.
const store = new Map<string, string>();

const kvStateMachine: StateMachine<KVCommand, string | null> = {
  apply: async (command) => {
    switch (command.type) {
      case 'SET':
        store.set(command.key, command.value);
        return command.value;
      case 'DELETE':
        store.delete(command.key);
        return null;
    }
  },
  snapshot: async () => Object.fromEntries(store),
  restore: async (state: Record<string, string>) => {
    store.clear();
    for (const [key, value] of Object.entries(state)) {
      store.set(key, value);
    }
  },
};

const node = new RaftNode<KVCommand, string | null>({
  nodeId: self.id,
  peers: members
    .filter((member) => member !== self)
    .map((member) => ({ id: member.id, address: member.httpAddress, peerAddress: member.raftAddress })),
  electionTimeout: [150, 300],
  heartbeatInterval: 50,
  maxEntriesPerRequest: 100,
  address: self.httpAddress,
  peerAddress: self.raftAddress,
  dataDir: process.env.DATA_DIR,
});

node.on(RaftEvent.StateChange, ({ previousState, newState, term }) => {
  console.error(`[${self.id}] ${previousState} -> ${newState} (term ${term})`);
});
node.on(RaftEvent.LeaderElected, ({ leaderId, term }) => {
  console.error(`[${self.id}] leader elected: ${leaderId} (term ${term})`);
});
node.on(RaftEvent.Error, (error) => console.error(`[${self.id}] raft error:`, error.message));

node.setStateMachine(kvStateMachine);

function send(res: http.ServerResponse, status: number, body: unknown, headers: http.OutgoingHttpHeaders = {}) {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}

function redirectToLeader(res: http.ServerResponse, path: string, leaderAddress: string | null) {
  if (!leaderAddress) {
    send(res, 503, { error: 'no leader known yet; retry' });
    return;
  }
  send(res, 307, { leader: leaderAddress }, { location: `http://${leaderAddress}${path}` });
}

function readBody(req: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => {
      body += chunk;
    });
    req.on('end', () => resolve(body));
    req.on('error', reject);
  });
}

function leaderHttpAddress(): string | null {
  const leader = members.find((member) => member.id === node.leader);
  return leader ? leader.httpAddress : null;
}

async function write(req: http.IncomingMessage, res: http.ServerResponse, key: string, path: string) {
  // As in the seed: a follower answers 307 to the leader, which preserves
  // the method and body, so `curl -L` or `fetch` retries it there.
  if (!node.isLeader) {
    redirectToLeader(res, path, leaderHttpAddress());
    return;
  }
  let command: KVCommand;
  if (req.method === 'DELETE') {
    command = { type: 'DELETE', key };
  } else {
    const body = JSON.parse((await readBody(req)) || '{}');
    if (typeof body.value !== 'string') {
      send(res, 400, { error: 'body must be {"value": "<string>"}' });
      return;
    }
    command = { type: 'SET', key, value: body.value };
  }
  try {
    await node.propose(command);
    send(res, 200, { success: true });
  } catch (error) {
    if (error instanceof NotLeaderError) {
      redirectToLeader(res, path, error.leaderAddress);
      return;
    }
    throw error;
  }
}

async function read(res: http.ServerResponse, key: string) {
  // readIndex makes the local read linearizable, on the leader or a follower.
  await node.readIndex();
  const value = store.get(key);
  if (value === undefined) {
    send(res, 404, { error: 'not found' });
  } else {
    send(res, 200, { key, value });
  }
}

async function route(req: http.IncomingMessage, res: http.ServerResponse) {
  const url = new URL(req.url ?? '/', 'http://localhost');
  const match = /^\/kv\/([^/]+)$/.exec(url.pathname);
  if (url.pathname === '/status' && req.method === 'GET') {
    send(res, 200, { nodeId: self!.id, isLeader: node.isLeader, leader: node.leader, term: node.term });
  } else if (match && (req.method === 'POST' || req.method === 'PUT' || req.method === 'DELETE')) {
    await write(req, res, decodeURIComponent(match[1]), url.pathname);
  } else if (match && req.method === 'GET') {
    await read(res, decodeURIComponent(match[1]));
  } else {
    send(res, 404, { error: 'no such route' });
  }
}

const server = http.createServer((req, res) => {
  route(req, res).catch((error: Error) => {
    const status = error instanceof NotLeaderError ? 307 : 503;
    send(res, status, { error: error.message });
  });
});

async function main() {
  await node.start();
  const [host, port] = self!.httpAddress.split(':');
  server.listen(Number(port), host, () => console.log(`ready ${self!.id} http://${self!.httpAddress}`));
}

// Graceful shutdown: a leader hands over before it goes.
process.on('SIGTERM', () => {
  server.close();
  node.stop().then(() => process.exit(0));
});

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
