/**
 * Building the page's elements. Everything the page shows is inserted as text nodes or
 * `textContent`, never as markup.
 *
 * @module
 */

/** The few properties the page sets on the elements it builds. */
export interface Props {
  cls?: string;
  title?: string | null;
  colspan?: number;
  data?: Record<string, unknown> | null;
}

/** A child: an element, or a value shown as text (null and undefined are skipped). */
export type Child = Node | string | number | null | undefined;

/** A new `<tag>` with `props` and `children`. */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props: Props | null,
  children: readonly Child[] = [],
): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  if (props) {
    if (props.cls) e.className = props.cls;
    if (props.title) e.title = String(props.title);
    if (props.colspan && e instanceof HTMLTableCellElement) e.colSpan = props.colspan;
    if (props.data) {
      for (const k of Object.keys(props.data)) e.dataset[k] = String(props.data[k]);
    }
  }
  for (const c of children) {
    if (c === null || c === undefined) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

/** The page's element `id` (the HTML shell has them all), checked to be a `type`. */
export function byId(id: string): HTMLElement;
export function byId<T extends HTMLElement>(id: string, type: new () => T): T;
export function byId(id: string, type: new () => HTMLElement = HTMLElement): HTMLElement {
  const e = document.getElementById(id);
  if (!(e instanceof type)) throw new Error(`status page: no element #${id}`);
  return e;
}
