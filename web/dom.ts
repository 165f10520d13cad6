/**
 * DOM helpers for the console. Every value the API returns may be attacker-controlled (a
 * command's text, a justification, a subject), so values only ever become text nodes or
 * attribute values set one by one: nothing here parses HTML.
 */

export type Child = Node | string | number | boolean | null | undefined | readonly Child[];
export type Attributes = Record<string, string | number | boolean | undefined | ((event: Event) => void)>;

/** Creates an element: `on…` keys become listeners, `true` boolean attributes are set empty, the rest by setAttribute. */
export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attributes: Attributes = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === false) continue;
    if (typeof value === 'function') element.addEventListener(name.slice(2).toLowerCase(), value);
    else if (value === true) element.setAttribute(name, '');
    else element.setAttribute(name, String(value));
  }
  append(element, children);
  return element;
}

export function append(parent: Node, children: readonly Child[]): void {
  for (const child of children) {
    if (child === null || child === undefined || child === false || child === true) continue;
    if (Array.isArray(child)) append(parent, child as readonly Child[]);
    else if (child instanceof Node) parent.appendChild(child);
    else parent.appendChild(document.createTextNode(String(child)));
  }
}

export function clear(element: Element): void {
  element.replaceChildren();
}

/**
 * Makes invisible and direction-changing characters visible (as \u{…}), so a recorded command
 * cannot hide part of itself or reorder what a reviewer reads. Newlines and tabs stay.
 */
export function visible(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]/g, (c) => `\\u{${c.codePointAt(0)!.toString(16).padStart(4, '0')}}`);
}

/** A command's or a statement's text, literal, in a <code> block. */
export function code(text: string, attributes: Attributes = {}): HTMLElement {
  return h('code', { class: 'command', ...attributes }, visible(text));
}

/** A definition list from label/value pairs; undefined values are left out. */
export function facts(pairs: readonly (readonly [string, Child])[], attributes: Attributes = {}): HTMLDListElement {
  const list = h('dl', { class: 'facts', ...attributes });
  for (const [label, value] of pairs) {
    if (value === undefined || value === null || value === '') continue;
    append(list, [h('dt', {}, label), h('dd', {}, value)]);
  }
  return list;
}

export function table(headers: readonly string[], rows: readonly (readonly Child[])[], attributes: Attributes = {}): HTMLTableElement {
  return h(
    'table',
    attributes,
    h('thead', {}, h('tr', {}, headers.map((header) => h('th', { scope: 'col' }, header)))),
    h('tbody', {}, rows.map((row) => h('tr', {}, row.map((cell) => h('td', {}, cell))))),
  );
}

export function time(iso: string | undefined | null): HTMLElement | string {
  if (!iso) return '';
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  return h('time', { datetime: iso, title: iso }, date.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'medium' }));
}

/** `rita ← planner-agent ← coder-agent`: the person who started the chain, then each actor. */
export function chainText(identity: { readonly sub: string; readonly act?: readonly { readonly sub: string }[]; readonly actors?: readonly string[] }): string {
  const actors = identity.actors ?? identity.act?.map((actor) => actor.sub) ?? [];
  return [identity.sub, ...actors].join(' ← ');
}

export function errorBox(message: string): HTMLElement {
  return h('p', { class: 'error', role: 'alert' }, visible(message));
}

export function notice(message: string): HTMLElement {
  return h('p', { class: 'notice' }, message);
}

export function decisionBadge(decision: string): HTMLElement {
  return h('span', { class: `badge decision-${/^[a-z-]+$/.test(decision) ? decision : 'other'}` }, decision);
}

/** Replaces an element's children; like replaceChildren, but takes the same children as h(). */
export function fill(element: Element, ...children: Child[]): void {
  element.replaceChildren();
  append(element, children);
}
