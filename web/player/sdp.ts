/**
 * Offer adjustments the browser needs before it accepts the server's H.264 track.
 *
 * The server offers the stream's real profile (e.g. High, `640020`), as it should. Chromium without
 * a hardware decoder (Linux without GPU, headless, many VMs) lists no High profile among its
 * receive codecs — only Constrained Baseline, Baseline, Main and High 4:4:4 Predictive (`f4`) — and
 * then rejects the whole video section. Its software decoder (FFmpeg) decodes High streams all the
 * same, and High 4:4:4 Predictive is a superset of High, Main and Constrained Baseline: so when the
 * offered profile is missing, we read it as `f4` with the same level. Nothing else changes; in
 * particular the playout-delay extension stays.
 */

/** profile_idc values that High 4:4:4 Predictive decoders also decode. */
const COVERED_BY_F4 = new Set(["42", "4d", "58", "64", "6e", "7a"]);

/** profile_idc + constraint flags ("640c", "42e0"…) the browser can receive in H.264. */
export function receivableH264Profiles(): Set<string> {
  const codecs = RTCRtpReceiver.getCapabilities?.("video")?.codecs ?? [];
  const profiles = new Set<string>();
  for (const codec of codecs) {
    if (codec.mimeType.toLowerCase() !== "video/h264") continue;
    const match = /profile-level-id=([0-9a-f]{6})/i.exec(codec.sdpFmtpLine ?? "");
    if (match) profiles.add(match[1]!.slice(0, 4).toLowerCase());
  }
  return profiles;
}

/** Returns the offer with each unreceivable H.264 profile read as High 4:4:4 Predictive. */
export function adaptOfferToReceiver(sdp: string, receivable: Set<string>): { sdp: string; changed: string[] } {
  const changed: string[] = [];
  if (receivable.size === 0) return { sdp, changed };
  const receivableIdc = new Set([...receivable].map((p) => p.slice(0, 2)));
  const out = sdp.replace(/(a=fmtp:\d+ [^\r\n]*profile-level-id=)([0-9a-fA-F]{6})/g, (line, head: string, id: string) => {
    const profile = id.slice(0, 4).toLowerCase();
    // Level asymmetry is allowed in our offers: the profile (idc + constraint flags) is what must match.
    if (receivable.has(profile) || !COVERED_BY_F4.has(profile.slice(0, 2)) || !receivableIdc.has("f4")) return line;
    changed.push(`${id}→f400${id.slice(4)}`);
    return `${head}f400${id.slice(4)}`;
  });
  return { sdp: out, changed };
}
