/** Streamers: live status, stream, viewers (kick), the shareable viewer link, stop. */
import type { StreamerJson } from "../lib/api.ts";
import { badge, h, render } from "../lib/dom.ts";
import { viewerUrl } from "../lib/location.ts";
import type { Cleanup, PageContext } from "./page.ts";

const REFRESH_MS = 2000;

const TONE = { live: "ok", starting: "warn", reconnecting: "warn", stopped: "bad", failed: "bad" } as const;

export function streamersPage(context: PageContext): Cleanup {
  const { api, main } = context;
  const list = h("div");
  render(main, h("h2", null, "Streamers"), list);
  let timer: ReturnType<typeof setTimeout> | undefined;
  let closed = false;

  async function refresh(): Promise<void> {
    clearTimeout(timer);
    try {
      const streamers = await api.streamers();
      if (closed) return;
      render(
        list,
        streamers.length === 0 ? h("p", { className: "muted" }, "No streamers. Start one from a host's apps.") : null,
        ...streamers.map(streamerCard),
      );
    } catch (error) {
      if (!closed) context.fail(error);
      return;
    }
    if (!closed) timer = setTimeout(() => void refresh(), REFRESH_MS);
  }

  function streamerCard(streamer: StreamerJson): HTMLElement {
    // The link carries no token: whoever opens it brings their own (or the server needs none).
    const link = viewerUrl(api.root, streamer.id);
    const stream = streamer.stream;
    return h(
      "div",
      { className: "card streamer", dataset: { streamerId: streamer.id, status: streamer.status } },
      h(
        "div",
        { className: "row" },
        h("strong", null, streamer.id),
        h("span", null, streamer.app.title),
        badge(streamer.status, TONE[streamer.status]),
        stream ? h("span", { className: "muted" }, `${stream.width}×${stream.height}@${stream.fps} ${stream.codec}`) : null,
        h("span", { className: "muted viewers" }, `${streamer.viewers.length} viewer${streamer.viewers.length === 1 ? "" : "s"}`),
        streamer.restarts > 0 ? h("span", { className: "muted" }, `${streamer.restarts} restarts`) : null,
      ),
      streamer.detail ? h("div", { className: "muted" }, streamer.detail) : null,
      h(
        "div",
        { className: "row", style: { marginTop: "8px" } },
        h("a", { href: link, target: "_blank", className: "viewer-link" }, link),
        h("button", { type: "button", onclick: () => void navigator.clipboard?.writeText(link) }, "Copy link"),
        h("button", { className: "danger", type: "button", onclick: () => void stop(streamer.id, false) }, "Stop"),
        h("button", { className: "danger", type: "button", title: "Also quit the app on the host", onclick: () => void stop(streamer.id, true) }, "Stop & quit app"),
      ),
      streamer.viewers.length > 0
        ? h(
            "table",
            { style: { marginTop: "8px" } },
            h("tr", null, h("th", null, "viewer"), h("th", null, "role"), h("th", null, "state"), h("th", null, "rtt"), h("th", null, "since"), h("th")),
            ...streamer.viewers.map((viewer) =>
              h(
                "tr",
                null,
                h("td", null, h("code", null, viewer.id)),
                h("td", null, viewer.role),
                h("td", null, viewer.state),
                h("td", null, viewer.stats?.rtt_ms !== undefined ? `${viewer.stats.rtt_ms.toFixed(1)} ms` : "–"),
                h("td", null, new Date(viewer.connected_at).toLocaleTimeString()),
                h("td", null, h("button", { type: "button", onclick: () => void api.kick(streamer.id, viewer.id).then(refresh, context.fail) }, "Kick")),
              ),
            ),
          )
        : null,
    );
  }

  async function stop(id: string, quit: boolean): Promise<void> {
    if (!confirm(quit ? `Stop ${id} and quit the app on the host?` : `Stop ${id}?`)) return;
    await api.stopStreamer(id, quit).catch((e: unknown) => context.fail(e));
    await refresh();
  }

  void refresh();
  return () => {
    closed = true;
    clearTimeout(timer);
  };
}
