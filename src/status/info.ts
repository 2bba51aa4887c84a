/**
 * What the router tells the status page, shared by the HTML shell (which embeds it as JSON)
 * and the browser client (which reads it back).
 *
 * @module
 */

/** What the page is rendered with. */
export interface StatusPageInfo {
  /** Realms of the router. */
  readonly realms: readonly string[];
  /** The web transport's WebSocket path that speaks JSON (the page connects to it), or null. */
  readonly wampPath: string | null;
  /** Router version. */
  readonly version: string;
}

/** The id of the page's `<script type="application/json">` block holding the info. */
export const INFO_ELEMENT_ID = "sb-info";
