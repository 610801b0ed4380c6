// Types of @ordo/raft (hand-written; the runtime is index.js + the native addon).

import { EventEmitter } from 'node:events';

/** The seed's node states. */
export declare const NodeState: {
  readonly Follower: 'follower';
  readonly Candidate: 'candidate';
  readonly Leader: 'leader';
};
export type NodeState = (typeof NodeState)[keyof typeof NodeState];

/** The seed's event names. */
export declare const RaftEvent: {
  readonly StateChange: 'stateChange';
  readonly LeaderElected: 'leaderElected';
  readonly LogAppended: 'logAppended';
  readonly LogCommitted: 'logCommitted';
  readonly LogApplied: 'logApplied';
  readonly Error: 'error';
};

/** A member other than this node. A bare string is a name only (for a JS transport). */
export interface PeerOptions {
  /** The peer's node id (a name such as "node-2"). */
  id: string;
  /** Where clients reach it: what a NotLeaderError names. */
  address?: string;
  /** HOST:PORT where Ordo's TCP transport dials it. */
  peerAddress?: string;
}

export interface RaftNodeOptions {
  /** This node's id, a name such as "node-1" (hashed to Ordo's numeric id). */
  nodeId: string;
  /** The other members. */
  peers: Array<string | PeerOptions>;
  /** [min, max] election timeout in ms (default [150, 300]). */
  electionTimeout?: [number, number];
  /** Leader heartbeat interval in ms (default 50). */
  heartbeatInterval?: number;
  /** The most entries one append message carries (default 4096). */
  maxEntriesPerRequest?: number;
  /** Persist the log in Ordo's WAL (and snapshots) here; in memory without it. */
  dataDir?: string;
  /** Where clients reach this node: what a NotLeaderError on a follower names. */
  address?: string;
  /** HOST:PORT Ordo's TCP transport listens on (needed unless setTransport is used). */
  peerAddress?: string;
  /** Nodes refuse peers of another cluster id (default "ordo-node"). */
  clusterId?: string;
  /** A proposal not applied within this many ms rejects with TimeoutError (default 10000). */
  proposeTimeout?: number;
}

/** A value a command or result can be: JSON, or bytes. */
export type Value = Buffer | Uint8Array | null | boolean | number | string | Value[] | { [key: string]: Value };

export interface StateMachine<C = any, R = any> {
  /** Applies one committed command, in log order, on every node; the leader's result resolves propose(). */
  apply(command: C): Promise<R> | R;
  /** The whole state, for Ordo's snapshots (only with dataDir). */
  snapshot?(): Promise<Value> | Value;
  /** Replaces the state by a snapshot's. */
  restore?(state: any): Promise<void> | void;
}

/**
 * Ordo's Raft messages, as JSON-friendly objects: {from, to, term, body}.
 * `from`/`to` are numeric ids (below 2^53); route by the peerId argument.
 * A transport sends them as they are (e.g. JSON.stringify over a WebSocket)
 * and hands each one received to node.handleMessage(fromPeerId, message).
 */
export interface RaftMessage {
  from: number;
  to: number;
  term: number;
  body: unknown;
}

export interface RaftTransport {
  /** Sends a message to a peer; best effort, must not throw for a down peer. */
  send(peerId: string, message: RaftMessage): void;
}

export interface StateChangeEvent {
  previousState: NodeState;
  newState: NodeState;
  term: number;
}
export interface LeaderElectedEvent {
  leaderId: string;
  term: number;
}
export interface LogEvent {
  /** The last appended, committed or applied index. */
  index: number;
}

/** {currentTerm, votedFor}: what loadState takes; lastLogIndex is informational. */
export interface PersistentState {
  currentTerm: number;
  votedFor: string | null;
  lastLogIndex?: number;
}

export declare class RaftError extends Error {
  /** Ordo's kind of error: "NotLeader", "Busy", "Timeout", "Config", ... */
  readonly kind: string;
}
export declare class NotLeaderError extends RaftError {
  /** The leader's node id, or null when no leader is known. */
  readonly leaderId: string | null;
  /** The leader's client address, or null. */
  readonly leaderAddress: string | null;
}
export declare class BusyError extends RaftError {}
export declare class TimeoutError extends RaftError {}

export declare class RaftNode<C = any, R = any> extends EventEmitter {
  constructor(options: RaftNodeOptions);
  setStateMachine(stateMachine: StateMachine<C, R>): void;
  setTransport(transport: RaftTransport): void;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Resolves with apply's result once applied; rejects with NotLeaderError on a follower. */
  propose(command: C): Promise<R>;
  /** Resolves (with the applied index) once this node applied all committed when called. */
  readIndex(): Promise<number>;
  addNode(nodeId: string, where?: { address?: string; peerAddress?: string }): Promise<void>;
  removeNode(nodeId: string): Promise<void>;
  transferLeadership(nodeId: string): Promise<void>;
  handleMessage(fromPeerId: string, message: RaftMessage): void;
  readonly isLeader: boolean;
  readonly leader: string | null;
  readonly term: number;
  getState(): PersistentState;
  loadState(state: PersistentState): void;

  on(event: 'stateChange', listener: (event: StateChangeEvent) => void): this;
  on(event: 'leaderElected', listener: (event: LeaderElectedEvent) => void): this;
  on(event: 'logAppended' | 'logCommitted' | 'logApplied', listener: (event: LogEvent) => void): this;
  on(event: 'error', listener: (error: RaftError) => void): this;
  once(event: 'stateChange', listener: (event: StateChangeEvent) => void): this;
  once(event: 'leaderElected', listener: (event: LeaderElectedEvent) => void): this;
  once(event: 'logAppended' | 'logCommitted' | 'logApplied', listener: (event: LogEvent) => void): this;
  once(event: 'error', listener: (error: RaftError) => void): this;
}
