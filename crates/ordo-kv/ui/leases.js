// The leases: every lease with its granted TTL (any node answers, from
// what it applied); on the leader, which alone keeps the deadlines, also
// the time remaining and the attached keys of the first few.

import { request, requestJson } from './api.js';
import { byId, el, replaceChildren } from './dom.js';

/** Leases whose remaining time is asked for, one request each. */
const DETAILED_LEASES = 20;

/**
 * A JSON body whose `"id"` numbers are kept as strings: lease ids are
 * 64-bit and a JavaScript number holds 53 bits.
 */
function parseWithIds(text) {
  return JSON.parse(text.replace(/"id"\s*:\s*(-?\d+)/g, '"id":"$1"'));
}

/** Fills the leases table; `isLeader` says whether remaining times exist here. */
export async function renderLeases(isLeader) {
  const note = byId('leases-note');
  try {
    const list = parseWithIds(await (await request('/v1/leases')).text());
    const detailed = isLeader ? list.leases.slice(0, DETAILED_LEASES) : [];
    const details = await Promise.all(detailed.map((lease) => requestJson(`/v1/leases/${lease.id}`)
      .then((info) => info, () => null)));
    const rows = list.leases.map((lease, i) => {
      const info = details[i];
      return el('tr', { 'data-lease': lease.id },
        el('td', { className: 'num' }, lease.id),
        el('td', { className: 'num' }, lease.ttl),
        el('td', { className: 'num' }, info ? info.remaining : '–'),
        el('td', {}, info ? info.keys.join(', ') : '–'));
    });
    replaceChildren(document.querySelector('#leases tbody'), rows);
    note.textContent = isLeader
      ? `${list.leases.length} leases`
      : `${list.leases.length} leases · remaining times are known to the leader only`;
  } catch (error) {
    note.textContent = `error: ${error.message}`;
  }
}
