// @ordo/raft: the seed's RaftNode API over Ordo's Rust runtime.
//
// This file holds what is JavaScript by nature (the EventEmitter, error
// classes, turning values into bytes); everything Raft is in the native
// addon (src/, built to ./ordo.node by `npm run build`).
'use strict';

const { EventEmitter } = require('node:events');
const path = require('node:path');
const { encodeValue, encodeError, decodeValue } = require('./lib/codec');
const { RaftError, NotLeaderError, BusyError, TimeoutError, fromNative } = require('./lib/errors');

let native;
try {
  native = require(path.join(__dirname, 'ordo.node'));
} catch (error) {
  throw new Error(`@ordo/raft: the native addon is missing; run \`npm run build\` in ${__dirname} (${error.message})`);
}

/** The seed's node states. */
const NodeState = Object.freeze({ Follower: 'follower', Candidate: 'candidate', Leader: 'leader' });

/** The seed's event names. */
const RaftEvent = Object.freeze({
  StateChange: 'stateChange',
  LeaderElected: 'leaderElected',
  LogAppended: 'logAppended',
  LogCommitted: 'logCommitted',
  LogApplied: 'logApplied',
  Error: 'error',
});

function normalizePeer(peer) {
  if (typeof peer === 'string') {
    return { id: peer };
  }
  const { id, address, peerAddress } = peer;
  return { id, address, peerAddress };
}

function rethrow(error) {
  throw fromNative(error);
}

class RaftNode extends EventEmitter {
  /**
   * @param {import('./index').RaftNodeOptions} options
   */
  constructor(options) {
    super();
    const nativeOptions = { ...options, peers: (options.peers || []).map(normalizePeer) };
    try {
      this._native = new native.NativeNode(JSON.stringify(nativeOptions));
    } catch (error) {
      rethrow(error);
    }
    this._stateMachine = null;
    this._transport = null;
  }

  /** Sets the state machine committed commands are applied to (before start). */
  setStateMachine(stateMachine) {
    if (!stateMachine || typeof stateMachine.apply !== 'function') {
      throw new TypeError('a state machine needs an apply(command) function');
    }
    if (Boolean(stateMachine.snapshot) !== Boolean(stateMachine.restore)) {
      throw new TypeError('a state machine gives both snapshot() and restore(), or neither');
    }
    this._stateMachine = stateMachine;
  }

  /** Replaces Ordo's TCP transport by a JS one with send(peerId, message) (before start). */
  setTransport(transport) {
    if (!transport || typeof transport.send !== 'function') {
      throw new TypeError('a transport needs a send(peerId, message) function');
    }
    this._transport = transport;
  }

  /** Starts the node; resolves once it runs (it then elects or follows on its own). */
  async start() {
    const stateMachine = this._stateMachine;
    if (!stateMachine) {
      throw new TypeError('call setStateMachine() before start()');
    }
    const apply = async (commands) => {
      const results = [];
      for (const command of commands) {
        try {
          results.push(encodeValue(await stateMachine.apply(decodeValue(command))));
        } catch (error) {
          results.push(encodeError(error));
        }
      }
      return results;
    };
    const snapshot = stateMachine.snapshot
      ? async () => encodeValue(await stateMachine.snapshot())
      : undefined;
    const restore = stateMachine.restore
      ? async (data) => {
          await stateMachine.restore(decodeValue(data));
          return true;
        }
      : undefined;
    const onEvent = (name, payloadJson) => this._onEvent(name, JSON.parse(payloadJson));
    const transport = this._transport;
    const send = transport
      ? (peerId, messageJson) => {
          try {
            transport.send(peerId, JSON.parse(messageJson));
          } catch (error) {
            this._onEvent('error', { kind: 'Transport', message: String(error && error.message) });
          }
        }
      : undefined;
    await this._native.start(apply, snapshot, restore, onEvent, send).catch(rethrow);
  }

  /** Stops the node; a leader hands leadership over first. */
  async stop() {
    await this._native.stop();
  }

  /**
   * Proposes a command (a JSON value or a Buffer); resolves with what the
   * state machine's apply returned for it, once applied on this node.
   * Rejects with NotLeaderError on a follower.
   */
  async propose(command) {
    const result = await this._native.propose(encodeValue(command)).catch(rethrow);
    return decodeValue(result);
  }

  /** Resolves once this node applied all that was committed when called (linearizable reads). */
  async readIndex() {
    return this._native.readIndex().catch(rethrow);
  }

  /** Adds a voting member. */
  async addNode(nodeId, { address, peerAddress } = {}) {
    await this._native.addNode(nodeId, address, peerAddress).catch(rethrow);
  }

  /** Removes a member. */
  async removeNode(nodeId) {
    await this._native.removeNode(nodeId).catch(rethrow);
  }

  /** Hands leadership to nodeId (call on the leader). */
  async transferLeadership(nodeId) {
    await this._native.transferLeadership(nodeId).catch(rethrow);
  }

  /** Delivers a message a JS transport received from peer `from`. */
  handleMessage(from, message) {
    try {
      this._native.handleMessage(from, JSON.stringify(message));
    } catch (error) {
      rethrow(error);
    }
  }

  /** Whether this node is the leader. */
  get isLeader() {
    return this._native.isLeader;
  }

  /** The leader's node id, or null. */
  get leader() {
    return this._native.leader ?? null;
  }

  /** The current term. */
  get term() {
    return this._native.term;
  }

  /** {currentTerm, votedFor, lastLogIndex}: what a user persisting state saves. */
  getState() {
    return JSON.parse(this._native.getState());
  }

  /** Loads a state saved from getState() (before start). */
  loadState(state) {
    try {
      this._native.loadState(JSON.stringify(state));
    } catch (error) {
      rethrow(error);
    }
  }

  _onEvent(name, payload) {
    if (name === RaftEvent.Error) {
      // An 'error' nobody listens to would throw and end the process; a
      // background error of a running node (a failed snapshot, a lagging
      // listener) is reported, not fatal.
      if (this.listenerCount(RaftEvent.Error) > 0) {
        this.emit(RaftEvent.Error, new RaftError(payload.message, payload.kind));
      }
      return;
    }
    this.emit(name, payload);
  }
}

module.exports = {
  RaftNode,
  NodeState,
  RaftEvent,
  RaftError,
  NotLeaderError,
  BusyError,
  TimeoutError,
};
