// The Cluster view: every member as the latest frame shows it, the leader
// highlighted.

import { byId, el, replaceChildren, show } from './dom.js';

/** Renders `frame` (see server/ui/frame.rs) into the Cluster view. */
export function renderCluster(frame) {
  byId('cluster-name').textContent = frame.cluster;
  byId('this-node').textContent = String(frame.node);
  byId('leader').textContent = frame.leader ? `node ${frame.leader}` : 'none';
  byId('term').textContent = show(frame.term);
  byId('revision').textContent = show(frame.revision);
  byId('alarms').textContent = frame.alarms.length ? `alarms: ${frame.alarms.join(', ')}` : '';
  const rows = frame.members.map((member) => memberRow(member, frame));
  replaceChildren(document.querySelector('#members tbody'), rows);
}

function memberRow(member, frame) {
  const isLeader = member.role === 'leader';
  const health = member.reasons.length ? `${member.health} (${member.reasons.join(', ')})` : member.health;
  const here = member.id === frame.node ? ' (this page)' : '';
  return el('tr', {
    className: isLeader ? 'leader' : '',
    'data-member-id': member.id,
    'data-role': member.role ?? 'unknown',
    'data-health': member.health,
  },
  el('td', { className: 'num' }, `${member.id}${here}`),
  el('td', {}, member.role ?? '–'),
  el('td', { className: `health-${member.health}` }, health),
  el('td', { className: 'num' }, show(member.term)),
  el('td', { className: 'num' }, show(member.commit_index)),
  el('td', { className: 'num' }, show(member.applied_index)),
  el('td', { className: 'num' }, show(member.lag)),
  el('td', {}, show(member.peer_addr)),
  el('td', {}, member.client_addr ? el('a', { href: `${member.client_addr}/ui` }, member.client_addr) : '–'));
}
