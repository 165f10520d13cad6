/** Sign-in: with the configured OpenID Connect provider, or (development) by pasting a Warden token. */
import type { ConsoleConfig } from '../api.js';
import { checkPastedToken, setToken, startOidcSignIn } from '../auth.js';
import { errorBox, fill, h } from '../dom.js';

export interface SignInOptions {
  readonly config: ConsoleConfig;
  readonly returnTo: string;
  readonly reason: string | undefined;
  readonly onSignedIn: () => void;
}

export async function renderSignIn(container: HTMLElement, options: SignInOptions): Promise<void> {
  const problems = h('div', { 'aria-live': 'polite' });
  if (options.reason) problems.append(errorBox(options.reason));
  const sections: HTMLElement[] = [];

  const { oidc } = options.config;
  if (oidc) {
    const button = h('button', { type: 'button', class: 'primary', 'data-testid': 'oidc-sign-in' }, 'Sign in with your identity provider');
    button.addEventListener('click', () => {
      button.disabled = true;
      startOidcSignIn(oidc, options.returnTo).catch((error: unknown) => {
        button.disabled = false;
        problems.replaceChildren(errorBox((error as Error).message));
      });
    });
    sections.push(h('section', { class: 'card' }, h('h2', {}, 'Single sign-on'), h('p', {}, 'Signs you in at ', h('code', {}, oidc.issuer), '; your groups there decide what you may do here.'), button));
  }

  const input = h('textarea', { id: 'token', name: 'token', rows: 4, autocomplete: 'off', spellcheck: 'false', required: true, 'data-testid': 'token-input' });
  const form = h(
    'form',
    { class: 'card', 'data-testid': 'token-form' },
    h('h2', {}, oidc ? 'Or paste a Warden token' : 'Sign in with a Warden token'),
    h('p', {}, 'For development: make one with ', h('code', {}, 'warden token --as alice --groups auditors'), ' (or ', h('code', {}, 'warden login --device'), '). It stays in this tab only, and expires with the token.'),
    h('label', { for: 'token' }, 'Warden token'),
    input,
    h('button', { type: 'submit', class: 'primary' }, 'Sign in'),
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const token = input.value.trim();
    const problem = checkPastedToken(token);
    if (problem) {
      problems.replaceChildren(errorBox(problem));
      return;
    }
    setToken(token);
    options.onSignedIn();
  });
  sections.push(form);
  fill(container, h('h1', {}, 'Sign in'), problems, ...sections);
}
