// The Keys view's browser: keys under a prefix, a page at a time, all
// pages read at the revision of the first (one snapshot); a key's value
// with its revisions, and the value it had before.

import { keyPath, query, request, requestJson } from './api.js';
import { byId, el, replaceChildren } from './dom.js';
import { formatValue } from './value.js';

/** Keys per page. */
export const PAGE_KEYS = 50;

export class KeyBrowser {
  constructor() {
    this.prefix = '';
    this.revision = null;
    this.pages = [];
    this.shown = null;
    byId('browse').addEventListener('submit', (event) => {
      event.preventDefault();
      this.browse(byId('prefix').value).catch(failed);
    });
    byId('next-page').addEventListener('click', () => this.nextPage().catch(failed));
    byId('first-page').addEventListener('click', () => this.browse(this.prefix).catch(failed));
    byId('value-format').addEventListener('change', () => this.renderValue());
    byId('value-older').addEventListener('click', () => this.older().catch(failed));
    byId('value-latest').addEventListener('click', () => this.open(this.shown.key).catch(failed));
  }

  /** The first page under `prefix`. */
  async browse(prefix) {
    this.prefix = prefix;
    this.revision = null;
    this.pages = [];
    await this.load(null);
  }

  async nextPage() {
    const last = this.pages[this.pages.length - 1];
    if (last) await this.load(last.items[last.items.length - 1]?.key ?? null);
  }

  async load(startAfter) {
    const list = await requestJson(`/v1/kv${query({
      prefix: this.prefix,
      limit: PAGE_KEYS,
      start_after: startAfter,
      revision: this.revision,
      keys_only: true,
    })}`);
    this.revision = this.revision ?? list.revision ?? null;
    this.pages.push(list);
    const rows = list.items.map((item) => el('tr', { 'data-key': item.key },
      el('td', {}, item.key),
      el('td', { className: 'num' }, item.mod_revision ?? item.revision),
      el('td', { className: 'num' }, item.version ?? '–')));
    rows.forEach((row) => row.addEventListener('click', () => this.open(row.dataset.key).catch(failed)));
    replaceChildren(document.querySelector('#keys-list tbody'), rows);
    byId('next-page').disabled = !list.more;
    byId('first-page').disabled = this.pages.length < 2;
    const at = this.revision ? ` at revision ${this.revision}` : '';
    byId('page-info').textContent = `page ${this.pages.length}, ${list.items.length} keys${at}`;
  }

  /** Shows `key` as of `revision` (the latest when absent). */
  async open(key, revision = null) {
    const response = await request(`/v1/kv/${keyPath(key)}${query({ revision })}`);
    const header = (name) => response.headers.get(name);
    this.shown = {
      key,
      bytes: new Uint8Array(await response.arrayBuffer()),
      modRevision: Number(header('x-ordo-revision')),
      createRevision: header('x-ordo-create-revision'),
      version: header('x-ordo-version'),
      lease: header('x-ordo-lease'),
      readAt: header('x-ordo-cluster-revision'),
    };
    for (const row of document.querySelectorAll('#keys-list tbody tr')) {
      row.classList.toggle('selected', row.dataset.key === key);
    }
    this.renderValue();
  }

  /** The version before the one shown (410 once compacted). */
  async older() {
    const before = this.shown && this.shown.modRevision - 1;
    if (before > 0) await this.open(this.shown.key, before);
  }

  renderValue() {
    const shown = this.shown;
    if (!shown) return;
    byId('value-panel').hidden = false;
    byId('value-key').textContent = shown.key;
    const lease = shown.lease ? ` · lease ${shown.lease}` : '';
    byId('value-meta').textContent = `created at revision ${shown.createRevision} · modified at ${shown.modRevision}`
      + ` · version ${shown.version}${lease} · ${shown.bytes.length} bytes · read at ${shown.readAt}`;
    byId('value-body').textContent = formatValue(shown.bytes, byId('value-format').value);
    byId('value-older').disabled = !(shown.modRevision > 1);
  }
}

function failed(error) {
  byId('page-info').textContent = `error: ${error.message}`;
}
