/**
 * What an admin page gets from the shell (admin.ts) and gives back: the shell imports the pages,
 * the pages import only this.
 */
import type { Api } from "../lib/api.ts";

/** Stops a page's timers and pending requests when another page replaces it. */
export type Cleanup = () => void;

export interface PageContext {
  api: Api;
  main: HTMLElement;
  /** Shows an API failure where the user looks; asks for a token on 401. */
  fail(error: unknown): void;
}
