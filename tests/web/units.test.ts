/** The player's pure helpers: key map, offer adaptation, text chunks, page location. */
import { describe, expect, test } from "bun:test";
import { pageLocation, viewerUrl } from "../../web/lib/location.ts";
import { virtualKeyOf } from "../../web/player/keycodes.ts";
import { adaptOfferToReceiver } from "../../web/player/sdp.ts";
import { chooseCodecPath, unplayableMessage } from "../../web/player/codec-choice.ts";
import { utf8Chunks } from "../../web/player/text.ts";

describe("web helpers", () => {
  test("physical keys map to Windows virtual-key codes, sides of modifiers kept", () => {
    expect(virtualKeyOf("KeyA")).toBe(0x41);
    expect(virtualKeyOf("Digit0")).toBe(0x30);
    expect(virtualKeyOf("F12")).toBe(0x7b);
    expect(virtualKeyOf("Numpad7")).toBe(0x67);
    expect(virtualKeyOf("ShiftLeft")).toBe(0xa0);
    expect(virtualKeyOf("ControlRight")).toBe(0xa3);
    expect(virtualKeyOf("Insert")).toBe(0x2d);
    expect(virtualKeyOf("PageUp")).toBe(0x21);
    expect(virtualKeyOf("Backquote")).toBe(0xc0);
    expect(virtualKeyOf("Fn")).toBeUndefined();
  });

  test("a High-profile offer is read as High 4:4:4 Predictive only when the browser lacks High", () => {
    const offer = "m=video 9 UDP/TLS/RTP/SAVPF 102\r\na=extmap:6 http://www.webrtc.org/experiments/rtp-hdrext/playout-delay\r\na=fmtp:102 profile-level-id=640020;packetization-mode=1;level-asymmetry-allowed=1\r\n";
    const noHigh = new Set(["4200", "42e0", "4d00", "f400"]);
    const adapted = adaptOfferToReceiver(offer, noHigh);
    expect(adapted.sdp).toContain("profile-level-id=f40020;");
    expect(adapted.sdp).toContain("playout-delay");
    expect(adapted.changed).toEqual(["640020→f40020"]);
    expect(adaptOfferToReceiver(offer, new Set(["6400", "42e0"])).sdp).toBe(offer);
    expect(adaptOfferToReceiver(offer, new Set()).sdp).toBe(offer);
    expect(adaptOfferToReceiver(offer.replace("640020", "42e01f"), noHigh).changed).toEqual([]);
  });

  test("pasted text is cut into whole code points of at most 32 UTF-8 bytes", () => {
    expect(utf8Chunks("hello")).toEqual(["hello"]);
    const long = "é".repeat(20) + "😀".repeat(3);
    const chunks = utf8Chunks(long);
    expect(chunks.join("")).toBe(long);
    for (const chunk of chunks) expect(new TextEncoder().encode(chunk).byteLength).toBeLessThanOrEqual(32);
    expect(utf8Chunks("a\r\nb")).toEqual(["a\nb"]);
  });

  test("the UI root and the streamer come from the page URL alone, under any prefix", () => {
    expect(pageLocation(new URL("http://h/view/s1"))).toEqual({ root: new URL("http://h/"), streamerId: "s1" });
    expect(pageLocation(new URL("https://h/mlstream/view/my%20id?access_token=t"))).toEqual({ root: new URL("https://h/mlstream/"), streamerId: "my id" });
    expect(pageLocation(new URL("https://h/a/b/#/streamers"))).toEqual({ root: new URL("https://h/a/b/"), streamerId: undefined });
    expect(viewerUrl(new URL("https://h/mlstream/"), "s1", { token: "v", viewOnly: true })).toBe("https://h/mlstream/view/s1?access_token=v&view_only=1");
  });

  test("the codec decides the transport: WebRTC where it receives the codec, else WebCodecs over the WebSocket, else a message", () => {
    const both = { webrtc: true, webcodecs: true };
    const webcodecsOnly = { webrtc: false, webcodecs: true };
    const none = { webrtc: false, webcodecs: false };
    expect(chooseCodecPath("av1", "auto", both)).toEqual({ transport: "webrtc" });
    expect(chooseCodecPath("hevc", "auto", webcodecsOnly)).toEqual({ transport: "websocket" });
    expect(chooseCodecPath("hevc", "auto", none)).toEqual({ unplayable: unplayableMessage("hevc") });
    expect(unplayableMessage("hevc")).toBe("This stream is HEVC, which this browser cannot decode. Restart the streamer with H.264 or AV1, or watch in a browser that decodes HEVC.");
    // H.264 always has MSE on the WebSocket transport.
    expect(chooseCodecPath("h264", "websocket", none)).toEqual({ transport: "websocket" });
    expect(chooseCodecPath("hevc", "webrtc", webcodecsOnly).unplayable).toContain("without ?transport=webrtc");
    expect(chooseCodecPath("av1", "websocket", { webrtc: true, webcodecs: false }).unplayable).toContain("without ?transport=websocket");
    // 10-bit: WebCodecs first (Chromium's WebRTC decodes 8-bit only), WebRTC as the last resort.
    expect(chooseCodecPath("av1", "auto", { webrtc: true, webcodecs: true, tenBit: true })).toEqual({ transport: "websocket" });
    expect(chooseCodecPath("av1", "auto", { webrtc: true, webcodecs: false, tenBit: true })).toEqual({ transport: "webrtc" });
  });
});
