/**
 * The Warden console: a single-page app over the control plane's JSON API, for reviewers who
 * decide held commands and auditors who read sessions, recordings and the ledger. Hash routes:
 * #/sessions, #/sessions/ID, #/approvals, #/approvals/ID, #/grants, #/ledger, #/signin.
 */
import 'asciinema-player/dist/bundle/asciinema-player.css';
import './style.css';
import type { ConsoleAccess } from '../core/console-api.js';
import { api, ApiError, SIGNED_OUT_EVENT, type ConsoleConfig } from './api.js';
import { claimsOf, consoleBase, finishOidcSignIn, getToken, signOut } from './auth.js';
import { errorBox, h } from './dom.js';
import { renderApprovals } from './pages/approvals.js';
import { renderGrants } from './pages/grants.js';
import { renderLedger } from './pages/ledger.js';
import { renderSession } from './pages/session.js';
import { renderSessions } from './pages/sessions.js';
import { renderSignIn } from './pages/signin.js';

export interface PageContext {
  /** What the signed-in person may do, from GET /v1/console/whoami. */
  readonly access: ConsoleAccess;
  /** The route's parameters, from the hash after its path (#/sessions?identity=bob). */
  readonly query: URLSearchParams;
  readonly navigate: (hash: string) => void;
}

const state: { access?: ConsoleAccess; config?: ConsoleConfig; signedOutReason?: string } = {};

const header = h('header', { class: 'top' });
const view = h('main', { id: 'view', tabindex: '-1' });

function navigate(hash: string): void {
  if (location.hash === hash) void route();
  else location.hash = hash;
}

function parseHash(): { parts: string[]; query: URLSearchParams } {
  const raw = location.hash.replace(/^#\/?/, '');
  const [path = '', search = ''] = raw.split('?', 2) as [string?, string?];
  return { parts: path.split('/').filter(Boolean).map(decodeURIComponent), query: new URLSearchParams(search) };
}

function renderHeader(): void {
  const access = state.access;
  const links: [string, string, boolean][] = [
    ['#/sessions', 'Sessions', access?.read ?? false],
    ['#/approvals', 'Approvals', access?.approve ?? false],
    ['#/grants', 'Grants', access !== undefined],
    ['#/ledger', 'Ledger', access?.read ?? false],
  ];
  const current = `#/${parseHash().parts[0] ?? ''}`;
  header.replaceChildren(
    h('a', { class: 'brand', href: '#/' }, 'Warden console'),
    h(
      'nav',
      { 'aria-label': 'Pages' },
      links.filter(([, , shown]) => shown).map(([href, label]) => h('a', { href, ...(current === href ? { 'aria-current': 'page' } : {}) }, label)),
    ),
    access ? whoBox(access) : h('span', { class: 'who' }, 'Not signed in'),
  );
}

function whoBox(access: ConsoleAccess): HTMLElement {
  const exp = claimsOf(getToken() ?? '')?.exp;
  const may = [access.read ? 'read sessions and the ledger' : undefined, access.approve ? 'decide approvals' : undefined].filter(Boolean);
  return h(
    'div',
    { class: 'who', 'data-testid': 'whoami' },
    h('span', {}, 'Signed in as ', h('strong', { 'data-testid': 'whoami-sub' }, access.sub)),
    h('span', { class: 'groups' }, ` · groups: ${access.groups.length > 0 ? access.groups.join(', ') : 'none'}`),
    h('span', { class: 'may', 'data-testid': 'whoami-may' }, ` · may ${may.length > 0 ? may.join(' and ') : 'do nothing here (ask to be added to a reader or approver group)'}`),
    exp ? h('span', { class: 'expires' }, ` · token expires ${new Date(exp * 1000).toLocaleTimeString()}`) : undefined,
    h(
      'button',
      {
        type: 'button',
        class: 'link',
        onclick: () => {
          signOut();
          state.access = undefined;
          navigate('#/signin');
        },
      },
      'Sign out',
    ),
  );
}

async function route(): Promise<void> {
  const container = h('section', { class: 'page' }, h('p', { class: 'loading' }, 'Loading…'));
  view.replaceChildren(container);
  const { parts, query } = parseHash();
  const token = getToken();
  if (!token || parts[0] === 'signin') {
    state.access = undefined;
    renderHeader();
    let configProblem: string | undefined;
    state.config ??= await api.config().catch((error: unknown) => {
      configProblem = `Single sign-on is unavailable: ${(error as Error).message}`;
      return undefined;
    });
    const returnTo = parts[0] === 'signin' || parts.length === 0 ? '#/' : location.hash;
    const reason = [state.signedOutReason, configProblem].filter(Boolean).join('\n') || undefined;
    await renderSignIn(container, { config: state.config ?? {}, returnTo, reason, onSignedIn: () => navigate(returnTo) });
    state.signedOutReason = undefined;
    return;
  }
  if (!state.access) {
    try {
      state.access = await api.whoami();
    } catch (error) {
      renderHeader();
      container.replaceChildren(errorBox(`Warden refused this token: ${(error as Error).message}`), h('p', {}, h('a', { href: '#/signin' }, 'Sign in again')));
      return;
    }
  }
  renderHeader();
  const context: PageContext = { access: state.access, query, navigate };
  try {
    switch (parts[0]) {
      case undefined:
        navigate(state.access.read ? '#/sessions' : state.access.approve ? '#/approvals' : '#/grants');
        return;
      case 'sessions':
        if (parts[1] === undefined) await renderSessions(container, context);
        else await renderSession(container, context, parts[1]);
        return;
      case 'approvals':
        await renderApprovals(container, context, parts[1]);
        return;
      case 'grants':
        await renderGrants(container, context);
        return;
      case 'ledger':
        await renderLedger(container, context);
        return;
      default:
        container.replaceChildren(errorBox(`There is no page ${location.hash}.`));
    }
  } catch (error) {
    container.replaceChildren(errorBox(error instanceof ApiError ? `Warden refused: ${error.message}` : `Something failed: ${(error as Error).message}`));
  }
}

async function start(): Promise<void> {
  document.body.replaceChildren(header, view);
  window.addEventListener(SIGNED_OUT_EVENT, (event) => {
    signOut();
    state.access = undefined;
    state.signedOutReason = `Signed out: ${String((event as CustomEvent).detail)}`;
    navigate('#/signin');
  });
  window.addEventListener('hashchange', () => void route());
  // Back from the identity provider: /console/callback?code=…&state=…
  if (location.pathname === `${consoleBase()}/callback`) {
    const search = new URLSearchParams(location.search);
    history.replaceState(null, '', `${consoleBase()}#/signin`);
    try {
      const returnTo = await finishOidcSignIn(search);
      history.replaceState(null, '', `${consoleBase()}${returnTo.startsWith('#') ? returnTo : '#/'}`);
    } catch (error) {
      state.signedOutReason = `Sign-in failed: ${(error as Error).message}`;
    }
  }
  await route();
}

void start();
