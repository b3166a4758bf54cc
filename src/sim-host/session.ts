/**
 * What /launch and /resume leave behind on the simulated host, for its media half (RTSP, ENet,
 * video, audio) to read: the running app, the requested mode and the session keys.
 */
import type { App } from "../moonlight/http/apps.ts";

export interface SimLaunchSession {
  /** Increments with every /launch or /resume. */
  id: number;
  appId: number;
  width: number;
  height: number;
  fps: number;
  /** 16-byte AES key of the session (`rikey`). */
  rikey: Uint8Array;
  /** Signed 32-bit key id (`rikeyid`). */
  rikeyId: number;
  /** 16-byte IV: rikeyId big-endian, then 12 zero bytes (audio/legacy input IV base). */
  rikeyIv: Uint8Array;
  /** `(channelMask << 16) | channelCount`; 196610 = stereo. */
  surroundAudioInfo: number;
  surroundParams: string;
  localAudioPlayMode: boolean;
  sops: boolean;
  gamepadMask: number;
  hdr: boolean;
  continuousAudio: boolean;
  /** Client's `corever`; ≥ 1 means it can do encrypted RTSP. */
  coreVersion: number;
  /** The URL handed out in sessionUrl0. */
  sessionUrl: string;
  /** 16 hex characters (Sunshine's X-SS-Ping-Payload) for the media half to use if it wants. */
  avPingPayload: string;
  /** Random u32 (Sunshine's X-SS-Connect-Data). */
  controlConnectData: number;
  clientUniqueId: string;
  /** Came from /resume rather than /launch. */
  resumed: boolean;
  createdAt: number;
}

/** Host-wide state, mutated by the control half, read by the media half. */
export interface SimHostState {
  /** App currently running, or undefined (host FREE). */
  runningApp: App | undefined;
  /** Parameters and keys of the latest /launch or /resume while an app runs. */
  session: SimLaunchSession | undefined;
  /** RTSP port advertised in sessionUrl0; the media half may set it once it listens (0 = not yet). */
  rtspPort: number;
}
