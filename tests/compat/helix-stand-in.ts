/**
 * Helix's side of a browser viewer, for the tests: serves the Helix-protocol page and forwards its
 * WebSockets to the sidecar the way Helix's moonlight_proxy does (docs/helix.md §0) — the browser
 * talks to Helix, Helix opens its own socket to the sidecar with `Authorization: Bearer
 * <credentials>` and `Host: moonlight-web:8080`, no Origin, and replaces the credentials of the
 * first `AuthenticateAndInit` with its own. Loopback only.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";

const PAGE = readFileSync(join(import.meta.dir, "helix-viewer-page.html"), "utf8");
/** The browser's sockets are opened under this prefix, as on Helix (`/moonlight/api/…`). */
const PROXY_PREFIX = "/moonlight";

interface Relay {
  target: string;
  upstream?: WebSocket;
  /** Browser frames that arrived before the sidecar's socket opened. */
  queued: (string | Uint8Array<ArrayBuffer>)[];
  first: boolean;
}

export interface HelixStandIn {
  /** The page's address. */
  pageUrl: string;
  /** ws:// URL of the proxy for a sidecar path such as `/api/host/stream`. */
  wsUrl(path: string): string;
  stop(): void;
}

/** Close codes a server may send (not 1005/1006, which only describe a missing close frame). */
const sendable = (code: number) => (code === 1000 || (code >= 1001 && code <= 1014 && code !== 1005 && code !== 1006) || (code >= 3000 && code <= 4999) ? code : 1011);

export function startHelixStandIn(options: { sidecarUrl: string; credentials: string }): HelixStandIn {
  const sidecarWs = options.sidecarUrl.replace(/^http/, "ws").replace(/\/$/, "");
  const server = Bun.serve<Relay, never>({
    hostname: "127.0.0.1",
    port: 0,
    fetch(request, server) {
      const url = new URL(request.url);
      if (url.pathname === "/helix.html") return new Response(PAGE, { headers: { "content-type": "text/html; charset=utf-8" } });
      if (url.pathname.startsWith(`${PROXY_PREFIX}/api/`) && server.upgrade(request, { data: { target: url.pathname.slice(PROXY_PREFIX.length), queued: [], first: true } })) return undefined;
      return new Response("not found", { status: 404 });
    },
    websocket: {
      open(ws) {
        const relay = ws.data;
        const upstream = new WebSocket(`${sidecarWs}${relay.target}`, {
          headers: { authorization: `Bearer ${options.credentials}`, host: "moonlight-web:8080" },
        } as unknown as string[]);
        upstream.binaryType = "arraybuffer";
        relay.upstream = upstream;
        upstream.onopen = () => {
          for (const frame of relay.queued.splice(0)) upstream.send(frame);
        };
        upstream.onmessage = (event) => ws.send(typeof event.data === "string" ? event.data : new Uint8Array(event.data as ArrayBuffer));
        upstream.onclose = (event) => ws.close(sendable(event.code), event.reason);
        upstream.onerror = () => ws.close(1011, "sidecar unreachable");
      },
      message(ws, message) {
        const relay = ws.data;
        let frame: string | Uint8Array<ArrayBuffer> = typeof message === "string" ? message : new Uint8Array(message);
        if (relay.first && typeof frame === "string") {
          relay.first = false;
          // Helix puts its own credentials into the first AuthenticateAndInit.
          try {
            const parsed = JSON.parse(frame) as { AuthenticateAndInit?: { credentials?: string } };
            if (parsed.AuthenticateAndInit) {
              parsed.AuthenticateAndInit.credentials = options.credentials;
              frame = JSON.stringify(parsed);
            }
          } catch {
            // not JSON: forwarded as is, the sidecar refuses it
          }
        }
        const upstream = relay.upstream;
        if (upstream?.readyState === WebSocket.OPEN) upstream.send(frame);
        else relay.queued.push(frame);
      },
      close(ws, code, reason) {
        ws.data.upstream?.close(sendable(code), reason);
      },
    },
  });
  const base = `http://127.0.0.1:${server.port}`;
  return {
    pageUrl: `${base}/helix.html`,
    wsUrl: (path) => `ws://127.0.0.1:${server.port}${PROXY_PREFIX}${path}`,
    stop: () => server.stop(true),
  };
}
