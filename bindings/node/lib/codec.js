// How commands and results cross into Rust: bytes with a one-byte tag, so
// that both JSON values and Buffers round-trip exactly. Ordo stores and
// replicates the bytes as they are; only this file reads them.
'use strict';

const TAG_JSON = 1;
const TAG_BINARY = 2;
const TAG_ERROR = 3; // a result whose apply() threw: {message, name}
const TAG_UNDEFINED = 4;

function tagged(tag, body) {
  const out = Buffer.allocUnsafe(body.length + 1);
  out[0] = tag;
  body.copy(out, 1);
  return out;
}

/** Encodes a command or a result: a Buffer/Uint8Array as bytes, anything else as JSON. */
function encodeValue(value) {
  if (value === undefined) {
    return Buffer.from([TAG_UNDEFINED]);
  }
  if (value instanceof Uint8Array) {
    return tagged(TAG_BINARY, Buffer.from(value.buffer, value.byteOffset, value.byteLength));
  }
  return tagged(TAG_JSON, Buffer.from(JSON.stringify(value), 'utf8'));
}

/** Encodes the failure of an apply(), so the proposal rejects with it. */
function encodeError(error) {
  const body = {
    name: error && error.name ? String(error.name) : 'Error',
    message: error && error.message !== undefined ? String(error.message) : String(error),
  };
  return tagged(TAG_ERROR, Buffer.from(JSON.stringify(body), 'utf8'));
}

/** Decodes what encodeValue made; throws for an encoded error. */
function decodeValue(bytes) {
  if (bytes.length === 0) {
    throw new Error('ordo: an empty value (no tag) came back from the native side');
  }
  const body = bytes.subarray(1);
  switch (bytes[0]) {
    case TAG_JSON:
      return JSON.parse(body.toString('utf8'));
    case TAG_BINARY:
      return Buffer.from(body);
    case TAG_UNDEFINED:
      return undefined;
    case TAG_ERROR: {
      const { name, message } = JSON.parse(body.toString('utf8'));
      const error = new Error(message);
      error.name = name;
      throw error;
    }
    default:
      throw new Error(`ordo: unknown value tag ${bytes[0]}`);
  }
}

module.exports = { encodeValue, encodeError, decodeValue };
