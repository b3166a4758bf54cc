/**
 * The offer a Helix browser gets names Constrained Baseline at the stream's level (docs/helix.md
 * §1.2 SDP): a browser without a High decoder would reject the video section of our real-profile
 * offer, and Helix's frontend cannot adapt it as our player does. The Chromium test shows the
 * picture; this pins the rewrite.
 */
import { expect, test } from "bun:test";
import { offerForHelixBrowser } from "../../src/compat/moonlight-web/helix-offer.ts";

const OFFER = [
  "v=0",
  "m=video 9 UDP/TLS/RTP/SAVPF 102",
  "a=rtpmap:102 H264/90000",
  "a=fmtp:102 profile-level-id=640034;packetization-mode=1;level-asymmetry-allowed=1",
  "a=extmap:6 http://www.webrtc.org/experiments/rtp-hdrext/playout-delay",
  "m=audio 9 UDP/TLS/RTP/SAVPF 111",
  "a=fmtp:111 minptime=10;useinbandfec=1",
  "",
].join("\r\n");

test("a High offer becomes Constrained Baseline at the same level; nothing else changes", () => {
  const adapted = offerForHelixBrowser(OFFER);
  expect(adapted).toBe(OFFER.replace("profile-level-id=640034", "profile-level-id=42e034"));
});

test("an offer without H.264 (H.265) is left as it is", () => {
  const hevc = OFFER.replace("H264", "H265").replace("a=fmtp:102 profile-level-id=640034;packetization-mode=1;level-asymmetry-allowed=1", "a=fmtp:104 profile-id=1");
  expect(offerForHelixBrowser(hevc)).toBe(hevc);
});
