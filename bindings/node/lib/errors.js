// The errors a RaftNode rejects with, typed by what the caller does next:
// NotLeaderError → redirect to leaderId/leaderAddress; BusyError → back off;
// TimeoutError / ProposalDroppedError → retry (a timed-out command may
// still apply, as with any Raft); others are bugs or configuration.
'use strict';

class RaftError extends Error {
  constructor(message, kind) {
    super(message);
    this.name = 'RaftError';
    /** Ordo's kind of error ("NotLeader", "Busy", "Timeout", ...). */
    this.kind = kind;
  }
}

class NotLeaderError extends RaftError {
  constructor(message, leaderId, leaderAddress) {
    super(message, 'NotLeader');
    this.name = 'NotLeaderError';
    /** The leader's node id, or null when no leader is known. */
    this.leaderId = leaderId ?? null;
    /** The leader's client address (its `address` option), or null. */
    this.leaderAddress = leaderAddress ?? null;
  }
}

class BusyError extends RaftError {
  constructor(message) {
    super(message, 'Busy');
    this.name = 'BusyError';
  }
}

class TimeoutError extends RaftError {
  constructor(message) {
    super(message, 'Timeout');
    this.name = 'TimeoutError';
  }
}

/** Turns an error of the native side (its message is JSON) into its class. */
function fromNative(error) {
  let payload;
  try {
    payload = JSON.parse(error.message);
  } catch {
    return error;
  }
  if (payload === null || typeof payload !== 'object' || typeof payload.kind !== 'string') {
    return error;
  }
  switch (payload.kind) {
    case 'NotLeader':
      return new NotLeaderError(payload.message, payload.leaderId, payload.leaderAddress);
    case 'Busy':
      return new BusyError(payload.message);
    case 'Timeout':
      return new TimeoutError(payload.message);
    default:
      return new RaftError(payload.message, payload.kind);
  }
}

module.exports = { RaftError, NotLeaderError, BusyError, TimeoutError, fromNative };
