/**
 * `appversion` from /serverinfo → protocol generation (reference §0.4).
 *
 * Four integers `a.b.c.d` (missing components = 0; `-1` is a valid component). A negative fourth
 * component means Sunshine (and Wolf), which enables every Sunshine extension.
 */
import { MalformedResponseError } from "../errors.ts";
import type { PairingHash } from "./pairing-crypto.ts";

export interface AppVersion {
  text: string;
  parts: [number, number, number, number];
}

export function parseAppVersion(text: string): AppVersion {
  const pieces = text.trim().split(".");
  if (pieces.length === 0 || pieces.length > 4 || pieces.some((p) => !/^-?\d+$/.test(p))) {
    throw new MalformedResponseError(`unparseable appversion "${text}"`);
  }
  const n = (i: number) => Number(pieces[i] ?? "0");
  return { text: text.trim(), parts: [n(0), n(1), n(2), n(3)] };
}

/** Compare the first three components, like the client's APP_VERSION_AT_LEAST. */
export function appVersionAtLeast(version: AppVersion, a: number, b: number, c: number): boolean {
  const [x, y, z] = version.parts;
  if (x !== a) return x > a;
  if (y !== b) return y > b;
  return z >= c;
}

/** What the generation implies for a client. */
export interface ProtocolFeatures {
  /** Sunshine/Wolf: fourth component negative. */
  sunshine: boolean;
  /** Pairing hash: SHA-256 from major 7. */
  pairingHash: PairingHash;
  /** `X-GS-ClientVersion` the client sends in RTSP (10 for Gen 3 … 14 for Gen 7+). */
  rtspClientVersion: number;
  /** RTSP over ENet/UDP (`rtspru://`) for 5 ≤ major ≤ 7 with patch < 404. */
  rtspOverEnet: boolean;
  /** ≥ 7.1.431: AES-GCM control stream, `streamid=control/13/0`, single PLAY. */
  encryptedControlStream: boolean;
}

export function protocolFeatures(version: AppVersion): ProtocolFeatures {
  const [major, , patch, build] = version.parts;
  const rtspClientVersion = major <= 3 ? 10 : major === 4 ? 11 : major === 5 ? 12 : major === 6 ? 13 : 14;
  return {
    sunshine: build < 0,
    pairingHash: major >= 7 ? "sha256" : "sha1",
    rtspClientVersion,
    rtspOverEnet: major >= 5 && major <= 7 && patch < 404,
    encryptedControlStream: appVersionAtLeast(version, 7, 1, 431),
  };
}
