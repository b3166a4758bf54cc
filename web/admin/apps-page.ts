/** One host's apps with their box art; choosing one opens the stream settings, then starts a streamer. */
import type { AppJson, CreateStreamer, HostJson } from "../lib/api.ts";
import { h, render } from "../lib/dom.ts";
import type { Cleanup, PageContext } from "./page.ts";

const RESOLUTIONS = [
  [1280, 720],
  [1920, 1080],
  [2560, 1440],
  [3840, 2160],
] as const;
const FPS = [30, 60, 90, 120];
const CODEC_LABEL = { h264: "H.264", hevc: "HEVC (H.265)", av1: "AV1" } as const;
/** serverinfo codec names (SCM flags, e.g. "HEVC_MAIN10") by the prefix of their family. */
const HOST_CODEC_PREFIX = { h264: "H264", hevc: "HEVC", av1: "AV1" } as const;
const BROWSER_MIME = { h264: "video/h264", hevc: "video/h265", av1: "video/av1" } as const;

/** Why a codec cannot be chosen: the host does not encode it, or this browser cannot decode it. */
function codecProblem(codec: keyof typeof CODEC_LABEL, host: HostJson | undefined): string {
  const hostCodecs = host?.codecs ?? [];
  if (hostCodecs.length > 0 && !hostCodecs.some((name) => name.toUpperCase().startsWith(HOST_CODEC_PREFIX[codec]))) return "host cannot encode it";
  const browser = RTCRtpReceiver.getCapabilities?.("video")?.codecs ?? [];
  if (codec !== "h264" && !browser.some((c) => c.mimeType.toLowerCase() === BROWSER_MIME[codec])) return "this browser cannot decode it";
  return "";
}

export function appsPage(context: PageContext, hostId: string): Cleanup {
  const { api, main } = context;
  const title = h("h2", null, "Apps");
  const grid = h("div", { className: "apps" });
  const settings = h("div");
  render(main, h("p", null, h("a", { href: "#/hosts" }, "← Hosts")), title, settings, grid);
  let closed = false;

  void (async () => {
    try {
      const [hosts, apps] = await Promise.all([api.hosts(), api.apps(hostId)]);
      if (closed) return;
      const host = hosts.find((x) => x.id === hostId);
      title.textContent = `Apps on ${host?.name ?? hostId}`;
      render(grid, ...apps.map((app) => appCard(app, () => showSettings(host, app))));
      if (apps.length === 0) render(grid, h("p", { className: "muted" }, "The host lists no apps."));
    } catch (error) {
      if (!closed) context.fail(error);
    }
  })();

  function appCard(app: AppJson, onclick: () => void): HTMLElement {
    return h(
      "button",
      { className: "app", type: "button", onclick, dataset: { appId: String(app.id) } },
      h("img", { src: api.boxArtUrl(hostId, app.id), alt: "", loading: "lazy" }),
      h("span", null, app.title),
    );
  }

  function showSettings(host: HostJson | undefined, app: AppJson): void {
    const resolution = h("select", { name: "resolution" }, ...RESOLUTIONS.map(([w, hh]) => h("option", { value: `${w}x${hh}` }, `${w}×${hh}`)));
    const fps = h("select", { name: "fps" }, ...FPS.map((f) => h("option", { value: String(f), selected: f === 60 }, `${f} fps`)));
    const bitrate = h("input", { name: "bitrate", type: "number", min: "500", max: "500000", step: "500", value: "10000" });
    const codec = h(
      "select",
      { name: "codec" },
      ...(["h264", "hevc", "av1"] as const).map((c) => {
        const why = codecProblem(c, host);
        return h("option", { value: c, disabled: why !== "", selected: c === "h264" }, `${CODEC_LABEL[c]}${why ? ` (${why})` : ""}`);
      }),
    );
    const id = h("input", { name: "id", placeholder: "(generated)", pattern: "[A-Za-z0-9][A-Za-z0-9._\\-]*", maxLength: 64 });
    const error = h("div", { className: "error" });
    const form = h(
      "form",
      {
        className: "settings",
        onsubmit: async (event: SubmitEvent) => {
          event.preventDefault();
          error.textContent = "";
          const [width, height] = resolution.value.split("x").map(Number) as [number, number];
          const body: CreateStreamer = {
            host: hostId,
            app: app.id,
            width,
            height,
            fps: Number(fps.value),
            bitrate_kbps: Number(bitrate.value),
            codec: codec.value as CreateStreamer["codec"],
            ...(id.value.trim() ? { id: id.value.trim() } : {}),
          };
          const submit = form.querySelector<HTMLButtonElement>("button[type=submit]")!;
          submit.disabled = true;
          try {
            await api.createStreamer(body);
            location.hash = "#/streamers";
          } catch (e) {
            error.textContent = (e as Error).message;
            submit.disabled = false;
          }
        },
      },
      h("label", null, "Resolution"),
      resolution,
      h("label", null, "Frame rate"),
      fps,
      h("label", null, "Bitrate (kbps)"),
      bitrate,
      h("label", null, "Codec"),
      codec,
      h("label", null, "Streamer id"),
      id,
      h("span"),
      h("div", { className: "row" }, h("button", { className: "primary", type: "submit" }, "Start streamer"), h("button", { type: "button", onclick: () => render(settings) }, "Cancel")),
    );
    render(settings, h("div", { className: "card" }, h("h3", null, `Stream “${app.title}”`), form, error));
    settings.scrollIntoView({ block: "nearest" });
  }

  return () => {
    closed = true;
  };
}
