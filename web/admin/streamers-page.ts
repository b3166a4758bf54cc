/** Streamers: live status, stream, viewers (kick), the shareable viewer link, stop. */
import type { StreamerJson } from "../lib/api.ts";
import { badge, h, render } from "../lib/dom.ts";
import { viewerUrl } from "../lib/location.ts";
import type { Cleanup, PageContext } from "./page.ts";

const REFRESH_MS = 2000;
/** How often a live stream's thumbnail is fetched again (the server reuses a picture for 2 s). */
const THUMBNAIL_MS = 4000;

const TONE = { live: "ok", starting: "warn", reconnecting: "warn", stopped: "bad", failed: "bad" } as const;

export function streamersPage(context: PageContext): Cleanup {
  const { api, main } = context;
  const list = h("div");
  render(main, h("h2", null, "Streamers"), list);
  let timer: ReturnType<typeof setTimeout> | undefined;
  let closed = false;
  const thumbnails = new Thumbnails(api);

  async function refresh(): Promise<void> {
    clearTimeout(timer);
    try {
      const streamers = await api.streamers();
      if (closed) return;
      thumbnails.keep(streamers.filter((s) => s.status === "live").map((s) => s.id));
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
        thumbnails.element(streamer.id),
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
    thumbnails.close();
  };
}

/**
 * Small live pictures of the streams (GET …/snapshot), one <img> per streamer kept across the
 * page's re-renders, refreshed every THUMBNAIL_MS while the stream is live. A failed fetch (no
 * ffmpeg on the server: 501) leaves the image empty and says why in its title.
 */
class Thumbnails {
  readonly #api: PageContext["api"];
  readonly #images = new Map<string, HTMLImageElement>();
  readonly #live = new Set<string>();
  #timer: ReturnType<typeof setTimeout> | undefined;
  #closed = false;

  constructor(api: PageContext["api"]) {
    this.#api = api;
    this.#timer = setTimeout(() => void this.#refresh(), 0);
  }

  /** The streamers that are live now; the others' pictures are dropped. */
  keep(liveIds: string[]): void {
    this.#live.clear();
    for (const id of liveIds) this.#live.add(id);
    for (const [id, image] of this.#images) {
      if (this.#live.has(id)) continue;
      this.#images.delete(id);
      if (image.src) URL.revokeObjectURL(image.src);
    }
    if (liveIds.some((id) => !this.#images.get(id)?.src)) {
      clearTimeout(this.#timer);
      this.#timer = setTimeout(() => void this.#refresh(), 0);
    }
  }

  element(id: string): HTMLImageElement {
    let image = this.#images.get(id);
    if (!image) {
      image = h("img", { className: "thumbnail", alt: `${id} (latest picture)`, width: 160, height: 90 }) as HTMLImageElement;
      if (!this.#live.has(id)) image.hidden = true;
      this.#images.set(id, image);
    }
    return image;
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
    for (const image of this.#images.values()) if (image.src) URL.revokeObjectURL(image.src);
    this.#images.clear();
  }

  async #refresh(): Promise<void> {
    clearTimeout(this.#timer);
    await Promise.all(
      [...this.#live].map(async (id) => {
        try {
          const blob = await this.#api.snapshot(id);
          const image = this.#images.get(id);
          if (this.#closed || !image) return;
          const old = image.src;
          image.src = URL.createObjectURL(blob);
          image.title = `${id}, ${new Date().toLocaleTimeString()}`;
          image.hidden = false;
          if (old) URL.revokeObjectURL(old);
        } catch (error) {
          const image = this.#images.get(id);
          if (image) image.title = `no picture: ${(error as Error).message}`;
        }
      }),
    );
    if (!this.#closed) this.#timer = setTimeout(() => void this.#refresh(), THUMBNAIL_MS);
  }
}
