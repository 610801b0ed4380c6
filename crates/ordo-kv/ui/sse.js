// Server-Sent Events over `fetch`, not EventSource: it lets a request
// carry headers (credentials, once the client port has users) and leaves
// reconnecting to the caller, who knows where to reconnect.

import { ApiError, credentials } from './api.js';

/**
 * Reads the event stream at `path`, calling `onEvent(type, data, id)` for
 * each event, until it ends (resolves) or fails (rejects). `signal` aborts.
 */
export async function readEvents(path, { signal, onEvent }) {
  const response = await fetch(path, {
    headers: { ...credentials(), accept: 'text/event-stream' },
    cache: 'no-store',
    signal,
  });
  if (!response.ok || !response.body) {
    throw new ApiError(response.status, '', `${path}: HTTP ${response.status}`);
  }
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  const parser = new EventParser(onEvent);
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    parser.push(value);
  }
}

/** The text/event-stream format, line by line (comments ignored). */
export class EventParser {
  constructor(onEvent) {
    this.onEvent = onEvent;
    this.buffer = '';
    this.reset();
  }

  reset() {
    this.type = 'message';
    this.data = [];
    this.id = null;
  }

  push(text) {
    this.buffer += text;
    let end;
    while ((end = this.buffer.search(/\r\n|\r|\n/)) >= 0) {
      const line = this.buffer.slice(0, end);
      const width = this.buffer.startsWith('\r\n', end) ? 2 : 1;
      this.buffer = this.buffer.slice(end + width);
      this.line(line);
    }
  }

  line(line) {
    if (line === '') {
      if (this.data.length) this.onEvent(this.type, this.data.join('\n'), this.id);
      this.reset();
      return;
    }
    if (line.startsWith(':')) return;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'event') this.type = value;
    else if (field === 'data') this.data.push(value);
    else if (field === 'id') this.id = value;
  }
}
