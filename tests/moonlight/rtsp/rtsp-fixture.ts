/** Test support: the RTSP exchanges and session parameters of the wolf-h264-clean fixture. */
import path from "node:path";
import { readFileSync } from "node:fs";
import { readPcap, tcpStreams } from "../../support/pcap.ts";
import { VideoFormat } from "../../../src/moonlight/rtsp/announce-sdp.ts";
import type { RtspStreamSettings } from "../../../src/moonlight/rtsp/rtsp-client.ts";
import { fixturePath } from "../../support/fixtures.ts";

export const FIXTURE = fixturePath("wolf-h264-clean");

export interface FixtureKeys {
  rikey: string;
  rtsp: { sessionUrl0: string; session: string; describe_response_sdp: string };
  server_ports: { rtsp: number; audio: number; video: number; control: number };
  negotiated: {
    width: number;
    height: number;
    fps: number;
    packetSize: number;
    configuredBitrateKbps: number;
    codec: string;
    audio: { channels: number };
    sdp_featureFlags: number;
    sdp_encryptionEnabled: number;
  };
}

export const keys = JSON.parse(readFileSync(path.join(FIXTURE, "keys.json"), "utf8")) as FixtureKeys;

/** The seven RTSP exchanges (OPTIONS … PLAY), one TCP connection each. */
export const rtspExchanges = tcpStreams(readPcap(path.join(FIXTURE, "capture.pcap")))
  .filter((s) => s.serverPort === keys.server_ports.rtsp)
  .map((s) => ({ request: s.clientToServer, response: s.serverToClient }));

/** The stream settings of the capture's `moonlight stream … -width 640 -height 360 -fps 30 -bitrate 3000 -codec h264 -remote no`. */
export const fixtureSettings: RtspStreamSettings = {
  width: keys.negotiated.width,
  height: keys.negotiated.height,
  fps: keys.negotiated.fps,
  bitrateKbps: keys.negotiated.configuredBitrateKbps,
  packetSize: keys.negotiated.packetSize,
  audioChannels: 2,
  videoFormats: VideoFormat.h264,
  remote: false,
  encryptAudio: true,
};
