// The Actions view, shown only when `GET /v1/ui/session` says the user
// may administer. Actions go to the leader, which this page reaches only
// when it is served by the leader (a redirect to another node's origin is
// not followed: the page talks to its own origin only).

import { jsonBody, request } from './api.js';
import { byId, el, replaceChildren } from './dom.js';

export class Actions {
  constructor() {
    this.frame = null;
    byId('transfer').addEventListener('click', () => this.transfer());
    byId('remove').addEventListener('click', () => this.remove());
    byId('backup').addEventListener('click', () => this.backup());
  }

  /** Keeps the choices and the "where" line in step with the cluster. */
  update(frame) {
    this.frame = frame;
    const here = frame.leader === frame.node;
    const leader = frame.members.find((m) => m.id === frame.leader);
    const where = byId('actions-where');
    if (here) {
      where.textContent = `This page is served by the leader, node ${frame.node}.`;
    } else if (leader?.client_addr) {
      replaceChildren(where, [
        'Leadership and membership changes go through the leader: ',
        el('a', { href: `${leader.client_addr}/ui#actions` }, `open node ${leader.id}'s dashboard`),
        '. Backups can be taken here.',
      ]);
    } else {
      where.textContent = 'No leader is known right now.';
    }
    for (const id of ['transfer', 'transfer-to', 'remove', 'remove-id']) byId(id).disabled = !here;
    const voters = frame.members.filter((m) => m.voter && m.id !== frame.leader);
    fillSelect(byId('transfer-to'), voters);
    fillSelect(byId('remove-id'), frame.members);
  }

  async transfer() {
    const to = Number(byId('transfer-to').value);
    await this.run(`transferring leadership to node ${to}`, async () => {
      await request('/v1/cluster/leader', jsonBody('POST', { to }));
      return `node ${to} leads`;
    });
  }

  async remove() {
    const id = Number(byId('remove-id').value);
    // eslint-disable-next-line no-alert
    if (!window.confirm(`Remove node ${id} from the cluster? It will stop serving for good.`)) return;
    await this.run(`removing node ${id}`, async () => {
      await request(`/v1/cluster/members/${id}`, { method: 'DELETE' });
      return `node ${id} was removed`;
    });
  }

  /** Fetched with the request's headers, then saved from memory. */
  async backup() {
    await this.run('taking a backup', async () => {
      const blob = await (await request('/v1/snapshot')).blob();
      const url = URL.createObjectURL(blob);
      const link = el('a', { href: url, download: `ordo-${new Date().toISOString()}.backup` });
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(url), 60_000);
      return `backup of ${blob.size} bytes saved`;
    });
  }

  async run(what, action) {
    const result = byId('action-result');
    result.className = '';
    result.textContent = `${what}…`;
    try {
      result.textContent = await action();
    } catch (error) {
      result.className = 'error';
      result.textContent = `${what} failed: ${error.message}`;
    }
  }
}

function fillSelect(select, members) {
  const wanted = members.map((m) => String(m.id)).join(',');
  if (select.dataset.ids === wanted) return;
  select.dataset.ids = wanted;
  replaceChildren(select, members.map((m) => el('option', { value: m.id }, `node ${m.id}`)));
}
