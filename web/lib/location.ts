/**
 * Where the UI lives and who the user is, derived from the page's own URL only, so that the UI
 * works at `/`, under a reverse proxy's prefix (`server.base_path`), and from the binary alike.
 *
 * Page URLs: `<base>/` (admin pages, hash-routed) and `<base>/view/<streamer-id>` (player).
 */

export interface PageLocation {
  /** Absolute URL of the UI root, ending in "/": every API and WebSocket URL is relative to it. */
  root: URL;
  /** Set on the player page. */
  streamerId: string | undefined;
}

export function pageLocation(url: URL = new URL(location.href)): PageLocation {
  const view = /^(.*\/)view\/([^/]+)\/?$/.exec(url.pathname);
  if (view) return { root: new URL(view[1]!, url), streamerId: decodeURIComponent(view[2]!) };
  return { root: new URL(url.pathname.replace(/[^/]*$/, ""), url), streamerId: undefined };
}

const TOKEN_KEY = "mlstream.token";

/**
 * The API token: `?access_token=` in the page URL wins (and is remembered on admin pages), else the
 * one remembered in this browser. Empty when the server needs none (loopback without tokens).
 */
export function currentToken(url: URL = new URL(location.href), remember = true): string {
  const fromUrl = url.searchParams.get("access_token");
  if (fromUrl !== null) {
    if (remember) setToken(fromUrl);
    return fromUrl;
  }
  try {
    return localStorage.getItem(TOKEN_KEY) ?? "";
  } catch {
    return "";
  }
}

export function setToken(token: string): void {
  try {
    if (token) localStorage.setItem(TOKEN_KEY, token);
    else localStorage.removeItem(TOKEN_KEY);
  } catch {
    // Storage may be disabled (private mode): the token then lives as long as the page.
  }
}

/** The shareable player link of a streamer. */
export function viewerUrl(root: URL, streamerId: string, options: { token?: string; viewOnly?: boolean } = {}): string {
  const url = new URL(`view/${encodeURIComponent(streamerId)}`, root);
  if (options.token) url.searchParams.set("access_token", options.token);
  if (options.viewOnly) url.searchParams.set("view_only", "1");
  return url.href;
}
