/** POST /api/streamers bodies → stream settings: the codec and 10-bit (hdr) choices. */
import { describe, expect, test } from "bun:test";
import { normalizeStreamerRequest } from "../../src/server/streamer-request.ts";

const defaults = { idleTimeoutS: 0 };

describe("normalizeStreamerRequest: codec and hdr", () => {
  test("codec and hdr as asked", () => {
    const { settings } = normalizeStreamerRequest({ host: "h", app: "Desktop", codec: "av1", hdr: true }, defaults);
    expect(settings.codecs).toEqual(["av1"]);
    expect(settings.hdr).toBe(true);
  });

  test("without hdr the settings carry no hdr key (a spec stored before it existed stays the same spec)", () => {
    const { settings } = normalizeStreamerRequest({ host: "h", app: "Desktop", codec: "hevc" }, defaults);
    expect("hdr" in settings).toBe(false);
    expect("hdr" in normalizeStreamerRequest({ host: "h", app: "Desktop", hdr: false }, defaults).settings).toBe(false);
  });

  test("the flat shape's VIDEO_FORMAT mask: codecs by family, 10-bit bits mean hdr", () => {
    const main10 = normalizeStreamerRequest({ host_id: "h", app_id: "Desktop", video_supported_formats: 0x0301 }, defaults).settings;
    expect(main10.codecs).toEqual(["hevc", "h264"]);
    expect(main10.hdr).toBe(true);
    const av1 = normalizeStreamerRequest({ host_id: "h", app_id: "Desktop", video_supported_formats: 0x1101 }, defaults).settings;
    expect(av1.codecs).toEqual(["av1", "hevc", "h264"]);
    expect("hdr" in av1).toBe(false);
  });
});
