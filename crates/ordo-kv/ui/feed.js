// The live feed of changes under the browsed prefix, through the watch API
// (`GET /v1/watch?prefix=`). The newest change is on top; the feed keeps
// the last MAX_ROWS rows.

import { query } from './api.js';
import { readEvents } from './sse.js';
import { byId, el } from './dom.js';
import { formatValue, itemBytes } from './value.js';

const MAX_ROWS = 200;
const PREVIEW_CHARS = 80;

export class ChangeFeed {
  constructor(prefixOf) {
    this.prefixOf = prefixOf;
    this.controller = null;
    byId('feed-toggle').addEventListener('click', () => (this.controller ? this.stop() : this.start()));
  }

  start() {
    const prefix = this.prefixOf();
    const controller = new AbortController();
    this.controller = controller;
    this.since = null;
    byId('feed-toggle').textContent = 'Stop';
    byId('feed-state').textContent = `connecting to the changes under "${prefix}"…`;
    readEvents(`/v1/watch${query({ prefix })}`, {
      signal: controller.signal,
      onEvent: (type, data) => this.event(type, data),
    }).then(
      () => this.ended('the stream ended'),
      (error) => this.ended(controller.signal.aborted ? 'stopped' : `lost: ${error.message}`),
    );
  }

  stop() {
    this.controller?.abort();
  }

  ended(why) {
    this.controller = null;
    byId('feed-toggle').textContent = 'Follow changes';
    byId('feed-state').textContent = why;
  }

  event(type, data) {
    if (type === 'progress' && !this.since) {
      // The watch's first message: changes after this revision follow.
      this.since = JSON.parse(data).revision;
      byId('feed-state').textContent = `following changes under "${this.prefixOf()}" since revision ${this.since}`;
    }
    if (type !== 'change') return;
    const change = JSON.parse(data);
    const body = document.querySelector('#feed tbody');
    for (const event of change.events) {
      const kv = event.kv;
      const kind = event.type;
      const value = kind === 'put'
        ? formatValue(itemBytes(kv.value ?? '', kv.encoding), 'auto').slice(0, PREVIEW_CHARS)
        : '';
      body.prepend(el('tr', { 'data-revision': change.revision },
        el('td', { className: 'num' }, change.revision),
        el('td', {}, kind),
        el('td', {}, kv.key),
        el('td', {}, value)));
    }
    while (body.rows.length > MAX_ROWS) body.deleteRow(body.rows.length - 1);
  }
}
