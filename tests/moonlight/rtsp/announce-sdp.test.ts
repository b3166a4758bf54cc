import { describe, expect, test } from "bun:test";
import {
  EncryptionFeature,
  VideoFormat,
  announceAttributes,
  announceSdpFromSettings,
  announcedVideoPort,
  buildAnnounceSdp,
  effectivePacketSize,
  parseAnnounceSdp,
  type AnnounceSettings,
} from "../../../src/moonlight/rtsp/announce-sdp.ts";
import { announceSettingsFor, parseDescribeBody } from "../../../src/moonlight/rtsp/rtsp-client.ts";
import { parseRtspMessage } from "../../../src/moonlight/rtsp/rtsp.ts";
import { fixtureSettings, keys, rtspExchanges } from "./rtsp-fixture.ts";

const capturedSdp = parseRtspMessage(rtspExchanges[5]!.request).body;

describe("ANNOUNCE SDP", () => {
  test("settings of the wolf-h264-clean session reproduce the captured SDP byte for byte", () => {
    const describe = parseDescribeBody(keys.rtsp.describe_response_sdp);
    const settings = announceSettingsFor("127.0.0.1", fixtureSettings, describe, keys.server_ports.video);
    expect(announceSdpFromSettings(settings)).toBe(capturedSdp);
  });

  test("the host-side parser reads the values Sunshine needs", () => {
    const attrs = parseAnnounceSdp(capturedSdp);
    expect(attrs.get("x-nv-video[0].clientViewportWd")).toBe("640");
    expect(attrs.get("x-nv-video[0].packetSize")).toBe("1392");
    expect(attrs.get("x-nv-general.featureFlags")).toBe(String(keys.negotiated.sdp_featureFlags));
    expect(attrs.get("x-ss-general.encryptionEnabled")).toBe(String(keys.negotiated.sdp_encryptionEnabled));
    expect(attrs.get("x-nv-vqos[0].bitStreamFormat")).toBe("0");
    expect(attrs.size).toBe(37);
    expect(announcedVideoPort(capturedSdp)).toBe(48100);
  });

  const base: AnnounceSettings = {
    hostAddress: "192.168.1.5", videoPort: 47998, width: 1920, height: 1081, fps: 60, packetSize: 1400, bitrateKbps: 20000,
    remote: false, videoFormat: VideoFormat.h265Main10, audioChannels: 6, audioChannelMask: 0x3f, highQualitySurround: true,
    audioPacketDurationMs: 5, encryptionEnabled: EncryptionFeature.controlV2 | EncryptionFeature.video, encryptAudio: false,
    decoderSupportsRfi: true, clientRefreshRateX100: 5994, slicesPerFrame: 4, colorSpace: 1, colorRange: 1,
  };

  test("derivations follow moonlight-common-c: HEVC 10-bit, surround, video encryption, odd height", () => {
    const attrs = new Map(announceAttributes(base));
    expect(attrs.get("x-nv-video[0].clientViewportHt")).toBe("1080");
    expect(attrs.get("x-nv-video[0].packetSize")).toBe("1360"); // 1400 → 1392 → −32
    expect(attrs.get("x-nv-video[0].initialBitrateKbps")).toBe("16000");
    expect(attrs.get("x-nv-clientSupportHevc")).toBe("1");
    expect(attrs.get("x-nv-vqos[0].bitStreamFormat")).toBe("1");
    expect(attrs.get("x-nv-video[0].dynamicRangeMode")).toBe("1");
    expect(attrs.get("x-nv-video[0].maxNumReferenceFrames")).toBe("0");
    expect(attrs.get("x-nv-audio.surround.enable")).toBe("1");
    expect(attrs.get("x-nv-audio.surround.AudioQuality")).toBe("1");
    expect(attrs.get("x-nv-general.featureFlags")).toBe("135");
    expect(attrs.get("x-nv-video[0].encoderCscMode")).toBe("3");
    expect(attrs.get("x-nv-video[0].videoEncoderSlicesPerFrame")).toBe("4");
  });

  test("remote streams drop QoS, subtract 500 kbps and force small packets; AV1 omits clientSupportHevc", () => {
    const remote = { ...base, remote: true, videoFormat: VideoFormat.av1Main8, encryptionEnabled: 0 };
    const attrs = new Map(announceAttributes(remote));
    expect(attrs.get("x-nv-video[0].initialBitrateKbps")).toBe("15500");
    expect(attrs.get("x-nv-vqos[0].qosTrafficType")).toBe("0");
    expect(attrs.get("x-nv-aqos.qosTrafficType")).toBe("0");
    expect(attrs.get("x-nv-video[0].packetSize")).toBe("1024");
    expect(attrs.has("x-nv-clientSupportHevc")).toBe(false);
    expect(attrs.get("x-nv-vqos[0].bitStreamFormat")).toBe("2");
    expect(effectivePacketSize({ ...remote, hostAddress: "fe80::1" })).toBe(1184);
  });

  test("IPv6 hosts get an IPv6 origin line with brackets", () => {
    const sdp = buildAnnounceSdp("fe80::1", 47998, [["x", "1"]]);
    expect(sdp).toBe("v=0\r\no=android 0 14 IN IPv6 [fe80::1]\r\ns=NVIDIA Streaming Client\r\na=x:1 \r\nt=0 0\r\nm=video 47998  \r\n");
  });
});
