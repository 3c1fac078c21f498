/**
 * A few DOM helpers for the room's components, instead of a framework:
 * h() makes an element (text children are text nodes, never HTML, so user
 * text cannot inject markup).
 */
type Child = Node | string | number | null | undefined | false;
type Props = Record<string, string | number | boolean | null | undefined | EventListener>;

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, props: Props = {}, ...children: (Child | Child[])[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = String(v);
    else if (k in el && typeof v !== 'string') (el as unknown as Record<string, unknown>)[k] = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

function append(el: Node, children: (Child | Child[])[]): void {
  for (const c of children) {
    if (Array.isArray(c)) append(el, c);
    else if (c !== null && c !== undefined && c !== false) el.appendChild(typeof c === 'object' ? c : document.createTextNode(String(c)));
  }
}

/** Replaces an element's children. */
export function fill(el: Element, ...children: (Child | Child[])[]): void {
  el.replaceChildren();
  append(el, children);
}

/** The element with an id, or an error naming the page. */
export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (!el) throw new Error(`#${id} is missing from the page`);
  return el as T;
}

/** A time of day for a message (HH:MM). */
export function clock(iso: string): string {
  const t = new Date(iso);
  return Number.isNaN(t.getTime()) ? '' : t.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}

/** Shows a short message in a live region, cleared after ms (0: kept). */
export function flash(el: HTMLElement, text: string, kind: 'error' | 'info' = 'error', ms = 6000): void {
  el.textContent = text;
  el.dataset['kind'] = kind;
  el.hidden = !text;
  const n = Number(el.dataset['n'] ?? 0) + 1;
  el.dataset['n'] = String(n);
  if (ms > 0 && text) {
    setTimeout(() => {
      if (el.dataset['n'] === String(n)) {
        el.textContent = '';
        el.hidden = true;
      }
    }, ms);
  }
}
