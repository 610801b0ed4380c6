// The dashboard's entry: tabs, the live stream of frames from this node,
// and moving to another member when this one is gone.
//
// The page only talks to the node that served it (its CSP allows no other
// origin), so when that node is down for FAILURES_BEFORE_MOVING attempts in
// a row, the page opens the dashboard of a member that was reachable in
// the last frame; the tab shown travels in the URL's fragment (never data).

import { requestJson, signIn } from './api.js';
import { readEvents } from './sse.js';
import { byId, el, replaceChildren } from './dom.js';
import { renderCluster } from './cluster.js';
import { Traffic } from './traffic.js';
import { KeyBrowser } from './keys.js';
import { ChangeFeed } from './feed.js';
import { renderLeases } from './leases.js';
import { Actions } from './actions.js';

const RETRY_MS = 500;
const FAILURES_BEFORE_MOVING = 3;
const VIEWS = ['cluster', 'traffic', 'keys', 'actions'];

const traffic = new Traffic();
const keys = new KeyBrowser();
const actions = new Actions();
new ChangeFeed(() => keys.prefix);
let lastFrame = null;
let mayAdminister = false;

function showView(name) {
  const view = VIEWS.includes(name) && !(name === 'actions' && !mayAdminister) ? name : 'cluster';
  for (const section of document.querySelectorAll('main > section')) {
    section.hidden = section.dataset.view !== view;
  }
  for (const button of document.querySelectorAll('#tabs button')) {
    if (button.dataset.view === view) button.setAttribute('aria-current', 'page');
    else button.removeAttribute('aria-current');
  }
  if (location.hash !== `#${view}`) history.replaceState(null, '', `#${view}`);
  if (view === 'traffic') traffic.render(Date.now());
  if (view === 'keys') {
    if (!keys.pages.length) keys.browse(keys.prefix).catch(() => {});
    renderLeases(lastFrame?.leader === lastFrame?.node);
  }
}

function onFrame(data) {
  const frame = JSON.parse(data);
  if (!frame.members) return;
  lastFrame = frame;
  renderCluster(frame);
  traffic.push(frame, Date.now());
  if (!byId('view-traffic').hidden) traffic.render(Date.now());
  if (mayAdminister) actions.update(frame);
}

function setConnection(state, text) {
  const connection = byId('connection');
  connection.dataset.state = state;
  connection.textContent = text;
}

/** Shows that this node is down, with links to the others. */
function showDown(failures) {
  const others = (lastFrame?.members ?? []).filter((m) => m.id !== lastFrame.node && m.client_addr);
  byId('down').hidden = false;
  // What is still shown is the last frame's: grey it out.
  document.querySelector('main').classList.add('stale');
  const name = lastFrame ? `node ${lastFrame.node}` : 'this node';
  byId('down-text').textContent = `${name} does not answer (attempt ${failures}). Other members:`;
  replaceChildren(byId('down-links'), others.map((m) => el('li', {},
    el('a', { href: `${m.client_addr}/ui${location.hash}` }, `node ${m.id} (${m.client_addr})`),
    ` ${m.health}`)));
}

/** A member other than this node that answered in the last frame, leader first. */
function nextMember() {
  if (!lastFrame) return null;
  const others = lastFrame.members.filter((m) => m.id !== lastFrame.node && m.client_addr
    && m.health !== 'unreachable');
  others.sort((a, b) => Number(b.role === 'leader') - Number(a.role === 'leader'));
  return others[0] ?? null;
}

async function follow() {
  let failures = 0;
  for (;;) {
    try {
      await readEvents('/v1/ui/stream', {
        onEvent: (type, data) => {
          if (type !== 'frame') return;
          failures = 0;
          byId('down').hidden = true;
          document.querySelector('main').classList.remove('stale');
          setConnection('live', `live from node ${JSON.parse(data).node}`);
          onFrame(data);
        },
      });
    } catch (error) {
      if (error.status === 401) {
        // The token expired (or auth was just enabled): sign in again.
        await signInForm();
        continue;
      }
      // Down, or the connection broke: counted below like an ended stream.
    }
    failures += 1;
    setConnection('down', lastFrame ? `node ${lastFrame.node} is down` : 'cannot reach this node');
    showDown(failures);
    const next = failures >= FAILURES_BEFORE_MOVING ? nextMember() : null;
    if (next) {
      setConnection('down', `moving to node ${next.id}…`);
      location.assign(`${next.client_addr}/ui${location.hash}`);
      return;
    }
    await new Promise((resolve) => { setTimeout(resolve, RETRY_MS); });
  }
}

/** Shows the sign-in form until a sign-in succeeds. */
function signInForm() {
  const form = byId('login');
  form.hidden = false;
  document.querySelector('main').hidden = true;
  setConnection('down', 'sign in to see this cluster');
  return new Promise((resolve) => {
    // One handler at a time (assigned, not added): a second sign-in, when a
    // token expires, replaces the first's.
    form.onsubmit = async (event) => {
      event.preventDefault();
      byId('login-error').textContent = '';
      try {
        await signIn(byId('login-name').value, byId('login-password').value);
      } catch (error) {
        byId('login-error').textContent = `Not signed in: ${error.message}`;
        return;
      }
      byId('login-password').value = '';
      form.hidden = true;
      document.querySelector('main').hidden = false;
      resolve();
    };
  });
}

async function start() {
  for (const button of document.querySelectorAll('#tabs button')) {
    button.addEventListener('click', () => showView(button.dataset.view));
  }
  byId('leases-refresh').addEventListener('click', () => renderLeases(lastFrame?.leader === lastFrame?.node));
  let session = null;
  try {
    session = await requestJson('/v1/ui/session');
  } catch (_) {
    session = null;
  }
  if (session?.auth_enabled && !session.user) {
    await signInForm();
    session = await requestJson('/v1/ui/session').catch(() => null);
  }
  mayAdminister = session?.may_administer === true;
  byId('actions-tab').hidden = !mayAdminister;
  showView(location.hash.slice(1));
  follow();
}

start();
