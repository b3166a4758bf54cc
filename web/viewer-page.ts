/**
 * The player page at `<base>/view/<streamer-id>[?access_token=…][&view_only=1]`: the link the
 * CLI prints and the streamers page shares.
 */
import { Api, ApiError } from "./lib/api.ts";
import { h, render } from "./lib/dom.ts";
import { currentToken } from "./lib/location.ts";
import { Player } from "./player/player.ts";

const POLL_MS = 3000;

export function startViewer(root: HTMLElement, base: URL, streamerId: string): Player {
  const url = new URL(location.href);
  // The link's own token, not an admin token this browser may remember: a shared link stays what it is.
  const token = currentToken(url, false) || (url.searchParams.has("access_token") ? "" : currentToken(url));
  const viewOnly = ["1", "true"].includes(url.searchParams.get("view_only") ?? "");
  const signaling = new URL(`api/streamers/${encodeURIComponent(streamerId)}/peer`, base);
  signaling.protocol = signaling.protocol === "https:" ? "wss:" : "ws:";
  if (token) signaling.searchParams.set("access_token", token);
  if (viewOnly) signaling.searchParams.set("view_only", "1");
  // `?ice=relay`: this viewer uses TURN relay candidates only (docs/deployment.md); the server says so in its hello.
  if (url.searchParams.get("ice") === "relay") signaling.searchParams.set("ice", "relay");
  // `?transport=auto|webrtc|websocket` (docs/ws-media.md); default auto: WebRTC first, the
  // WebSocket media transport where WebRTC cannot pass. The connection puts it on the socket URL.
  const asked = url.searchParams.get("transport");
  const transport = asked === "webrtc" || asked === "websocket" ? asked : "auto";
  const api = new Api(base, token);

  document.title = `${streamerId} · mlstream`;
  document.body.classList.add("player-page");

  /**
   * After 4004 (the streamer stopped or does not exist): poll the API until it is live again. A
   * viewer token may not read the API: then a button lets the user retry by hand.
   */
  const waitForStreamer = () =>
    new Promise<void>((resolve) => {
      const retry = h("button", { className: "retry", style: { position: "fixed", left: "50%", top: "60%", transform: "translateX(-50%)", zIndex: "4" } }, "Retry");
      retry.onclick = () => {
        retry.remove();
        resolve();
      };
      // No such streamer (a mistyped or stale link): say so in words, with a way back, and keep
      // polling in case it is created under this id.
      const notFound = h(
        "div",
        { className: "not-found" },
        h("p", null, `There is no stream called “${streamerId}” on this server. It may have been stopped, or the link may be mistyped.`),
        h("a", { href: new URL("#/streamers", base).href }, "See the streams on this server"),
      );
      const poll = async () => {
        try {
          const streamer = await api.streamer(streamerId);
          notFound.remove();
          if (streamer.status === "live" || streamer.status === "starting") {
            retry.remove();
            resolve();
            return;
          }
        } catch (error) {
          if (error instanceof ApiError && (error.status === 401 || error.status === 403)) {
            document.body.append(retry);
            return;
          }
          if (error instanceof ApiError && error.status === 404 && !notFound.isConnected) document.body.append(notFound);
        }
        setTimeout(() => void poll(), POLL_MS);
      };
      void poll();
    });

  const player = new Player({ signalingUrl: signaling.href, viewOnly, waitForStreamer, transport });
  render(root, player.element);
  player.start();
  return player;
}
