/**
 * `/launch` and `/resume` (reference §1.7): the query a real client sends, the reply
 * (`<sessionUrl0>rtsp[enc]://addr:port</sessionUrl0><gamesession|resume>1</…>`), and the session
 * keys (`rikey`: AES-128 key of the whole session; `rikeyid`: big-endian int32 of the 4 random bytes
 * that start the 16-byte "remote input IV", whose other 12 bytes are zero).
 */
import { randomBytes } from "node:crypto";
import { HostHttpError, MalformedResponseError } from "../errors.ts";
import type { NvHttpDocument, XmlNode } from "./nvhttp-xml.ts";

export type AudioConfiguration = "stereo" | "5.1" | "7.1";

/** `surroundAudioInfo` = channelMask << 16 | channelCount. */
const SURROUND_AUDIO_INFO: Record<AudioConfiguration, number> = {
  stereo: (0x3 << 16) | 2,
  "5.1": (0x3f << 16) | 6,
  "7.1": (0x63f << 16) | 8,
};

export function surroundAudioInfo(config: AudioConfiguration): number {
  return SURROUND_AUDIO_INFO[config];
}

/** Session key material the client generates per launch and later hands to RTSP/control/audio. */
export interface SessionKeys {
  /** 16-byte AES key (`rikey`). */
  rikey: Uint8Array;
  /** Signed 32-bit key id (`rikeyid`). */
  rikeyId: number;
  /** The 16-byte IV whose first 4 bytes are rikeyId big-endian, the rest zero. */
  rikeyIv: Uint8Array;
}

export function sessionKeysFrom(rikey: Uint8Array, ivPrefix: Uint8Array): SessionKeys {
  if (rikey.length !== 16 || ivPrefix.length < 4) throw new RangeError("rikey must be 16 bytes, IV prefix 4");
  const rikeyIv = new Uint8Array(16);
  rikeyIv.set(ivPrefix.subarray(0, 4));
  const rikeyId = new DataView(rikeyIv.buffer).getInt32(0, false);
  return { rikey: Uint8Array.from(rikey), rikeyId, rikeyIv };
}

export function createSessionKeys(): SessionKeys {
  return sessionKeysFrom(randomBytes(16), randomBytes(4));
}

export interface LaunchOptions {
  /** App to start (/launch); ignored by /resume. */
  appId: number;
  width: number;
  height: number;
  fps: number;
  keys: SessionKeys;
  /** Let the host change its display mode ("optimize game settings"). Default false. */
  sops?: boolean;
  /** Also play audio on the host. Default false. */
  localAudioPlayMode?: boolean;
  /** Default stereo. */
  audio?: AudioConfiguration;
  /** Bitmask of connected gamepads (`remoteControllersBitmap` and `gcmap`). Default 0 (none). */
  gamepadMask?: number;
  /** Keep virtual gamepads after disconnect. Default false. */
  persistGamepads?: boolean;
  /** Ask for HDR (only if the client can decode 10-bit). Default false. */
  hdr?: boolean;
  /**
   * moonlight-common-c's `corever`; 1 (what real clients send) makes Sunshine answer `rtspenc://`
   * and encrypt RTSP. 0 keeps RTSP plaintext. Default 1.
   */
  coreVersion?: number;
  /** Sunshine: custom Opus layout for 6/8 channels. */
  surroundParams?: string;
  /** Sunshine: send audio even when silent. */
  continuousAudio?: boolean;
}

const HDR_PARAMS: [string, string][] = [
  ["hdrMode", "1"],
  ["clientHdrCapVersion", "0"],
  ["clientHdrCapSupportedFlagsInUint32", "0"],
  ["clientHdrCapMetaDataId", "NV_STATIC_METADATA_TYPE_1"],
  ["clientHdrCapDisplayData", "0x0x0x0x0x0x0x0x0x0x0"],
];

/**
 * Query parameters after uniqueid/uuid, in moonlight-qt's order. GFE drops to FPS 0 above 60
 * (it would otherwise fall back to 720p60); Sunshine gets the real value.
 */
export function launchQuery(options: LaunchOptions, host: { gfe: boolean }): [string, string][] {
  const fps = host.gfe && options.fps > 60 ? 0 : options.fps;
  const gamepadMask = options.gamepadMask ?? 0;
  const params: [string, string][] = [
    ["appid", String(options.appId)],
    ["mode", `${options.width}x${options.height}x${fps}`],
    ["additionalStates", "1"],
    ["sops", options.sops ? "1" : "0"],
    ["rikey", Buffer.from(options.keys.rikey).toString("hex")],
    ["rikeyid", String(options.keys.rikeyId)],
  ];
  if (options.hdr) params.push(...HDR_PARAMS);
  params.push(
    ["localAudioPlayMode", options.localAudioPlayMode ? "1" : "0"],
    ["surroundAudioInfo", String(surroundAudioInfo(options.audio ?? "stereo"))],
    ["remoteControllersBitmap", String(gamepadMask)],
    ["gcmap", String(gamepadMask)],
    ["gcpersist", options.persistGamepads ? "1" : "0"],
  );
  if (options.surroundParams !== undefined) params.push(["surroundParams", options.surroundParams]);
  if (options.continuousAudio !== undefined) params.push(["continuousAudio", options.continuousAudio ? "1" : "0"]);
  params.push(["corever", String(options.coreVersion ?? 1)]);
  return params;
}

export interface LaunchResult {
  /** e.g. `rtsp://192.168.1.5:48010` or `rtspenc://…` (Sunshine with corever ≥ 1). */
  sessionUrl: string;
  /** The scheme is `rtspenc`: RTSP messages are AES-GCM encrypted with rikey. */
  rtspEncrypted: boolean;
}

/**
 * Parse a successful /launch or /resume reply. `verdict` is `gamesession` or `resume`; a value
 * of 0 is a failure. Older hosts omit sessionUrl0: fall back to rtsp://address:48010.
 */
export function parseLaunchResponse(
  doc: NvHttpDocument,
  verdict: "gamesession" | "resume",
  fallbackHost: string,
): LaunchResult {
  const flag = doc.text(verdict);
  if (flag !== undefined && flag.trim() === "0") throw new HostHttpError(`host answered ${verdict}=0`, 200, 200);
  const url = doc.text("sessionUrl0");
  if (url === undefined || url === "") return { sessionUrl: `rtsp://${fallbackHost}:48010`, rtspEncrypted: false };
  if (!/^rtsp(enc|ru)?:\/\/.+/.test(url)) throw new MalformedResponseError(`unexpected sessionUrl0 "${url}"`);
  return { sessionUrl: url, rtspEncrypted: url.startsWith("rtspenc://") };
}

/** Parsed `mode=WxHxFPS` (Sunshine defaults to 0x0x0). */
export function parseMode(text: string | undefined): { width: number; height: number; fps: number } {
  const [w, h, f] = (text ?? "0x0x0").split("x").map((p) => Number.parseInt(p, 10));
  return { width: w || 0, height: h || 0, fps: f || 0 };
}

export function launchResponseNodes(sessionUrl: string, verdict: "gamesession" | "resume"): XmlNode[] {
  return [
    { name: "sessionUrl0", text: sessionUrl },
    { name: verdict, text: 1 },
  ];
}
