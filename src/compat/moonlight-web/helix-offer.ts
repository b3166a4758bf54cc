/**
 * The offer a Helix browser gets. Our offer names the stream's real H.264 profile (e.g. High,
 * `640034`); our own player adapts it to its browser's receive list before answering
 * (web/player/sdp.ts), but Helix's frontend applies an offer as it comes, and a browser without a
 * High decoder in its list (Chromium without hardware decoding: headless, many VMs) then rejects
 * the whole video section — no picture. In the fork the browser offered and the server answered
 * with the browser's own profile, so this never came up.
 *
 * So a Helix browser is offered Constrained Baseline (`42e0`, the profile every WebRTC browser must
 * receive, RFC 7742 §6.2) at the stream's level, with level asymmetry allowed. Decoders read the
 * real profile from the stream's SPS, so the High stream decodes all the same (the Chromium test
 * in tests/compat/helix-browser.test.ts shows it). Only the fmtp line changes.
 */
const CONSTRAINED_BASELINE = "42e0";

export function offerForHelixBrowser(sdp: string): string {
  return sdp.replace(/(a=fmtp:\d+ [^\r\n]*profile-level-id=)([0-9a-fA-F]{4})([0-9a-fA-F]{2})/g, (_line, head: string, _profile: string, level: string) => `${head}${CONSTRAINED_BASELINE}${level}`);
}
