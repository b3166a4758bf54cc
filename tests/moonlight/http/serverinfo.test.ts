import { describe, expect, test } from "bun:test";
import path from "node:path";
import { appVersionAtLeast, parseAppVersion, protocolFeatures } from "../../../src/moonlight/http/app-version.ts";
import { MalformedResponseError } from "../../../src/moonlight/errors.ts";
import { parseNvHttpDocument, serializeNvHttpDocument } from "../../../src/moonlight/http/nvhttp-xml.ts";
import { parseServerInfo, serverInfoNodes } from "../../../src/moonlight/http/serverinfo.ts";
import { fixturePath } from "../../support/fixtures.ts";

const FIXTURE = path.join(fixturePath("wolf-pairing"), "pair-exchange.json");
const fixture = (await Bun.file(FIXTURE).json()) as { exchanges: { seq: number; response: { body: string } | null }[] };
const wolfServerInfo = fixture.exchanges.find((e) => e.seq === 0)!.response!.body;

describe("serverinfo parsing", () => {
  test("Wolf's real reply parses into every field", () => {
    const info = parseServerInfo(parseNvHttpDocument(wolfServerInfo));
    expect(info.hostname).toBe("Wolf");
    expect(info.uniqueId).toBe("5f1c7a3e-0d2b-4c8e-9a61-f1c5e7d2a001");
    expect(info.appVersion.parts).toEqual([7, 1, 431, -1]);
    expect(info.features).toMatchObject({ sunshine: true, pairingHash: "sha256", encryptedControlStream: true, rtspClientVersion: 14 });
    expect(info.gfeVersion).toBe("3.23.0.74");
    expect(info.httpsPort).toBe(47984);
    expect(info.externalPort).toBe(47989);
    expect(info.maxLumaPixelsHevc).toBe(1869449984);
    expect(info.codecModeSupport).toBe(257);
    expect(info.codecs).toEqual(["H264", "HEVC"]);
    expect(info.mac).toBeUndefined(); // 00:00:00:00:00:00 means "hidden"
    expect(info.localIp).toBe("127.0.0.1");
    expect(info.paired).toBe(false);
    expect(info.busy).toBe(false);
    expect(info.displayModes).toContainEqual({ width: 1920, height: 1080, refreshRate: 60 });
    expect(info.displayModes.length).toBeGreaterThan(10);
  });

  test("a busy host reports its running game", () => {
    const body = serializeNvHttpDocument(
      { statusCode: 200 },
      serverInfoNodes({
        hostname: "pc", appVersion: "7.1.431.-1", gfeVersion: "3.23.0.74", uniqueId: "u", httpsPort: 1, externalPort: 2,
        maxLumaPixelsHevc: 0, mac: "aa:bb:cc:dd:ee:ff", localIp: "10.0.0.2", codecModeSupport: 0x10101, paired: true,
        currentGame: 42, busy: true,
      }),
    );
    const info = parseServerInfo(parseNvHttpDocument(body));
    expect(info).toMatchObject({ busy: true, currentGame: 42, paired: true, mac: "aa:bb:cc:dd:ee:ff", httpsPort: 1 });
    expect(info.codecs).toEqual(["H264", "HEVC", "AV1_MAIN8"]);
  });

  test("a missing HttpsPort falls back to 47984 and missing codec support to H.264", () => {
    const info = parseServerInfo(parseNvHttpDocument('<root status_code="200"><appversion>7.1.431.-1</appversion></root>'));
    expect(info.httpsPort).toBe(47984);
    expect(info.codecs).toEqual(["H264"]);
    expect(info.hostname).toBe("UNKNOWN");
  });

  test("garbage appversion is malformed", () => {
    expect(() => parseServerInfo(parseNvHttpDocument('<root status_code="200"><appversion>seven</appversion></root>'))).toThrow(MalformedResponseError);
  });
});

describe("appversion generations", () => {
  test("old GFE generations pick SHA-1 pairing and RTSP over ENet", () => {
    const gfe = protocolFeatures(parseAppVersion("7.1.402.0"));
    expect(gfe).toMatchObject({ sunshine: false, pairingHash: "sha256", rtspOverEnet: true, encryptedControlStream: false });
    expect(protocolFeatures(parseAppVersion("5.0.1")).pairingHash).toBe("sha1");
    expect(appVersionAtLeast(parseAppVersion("7.1.431.-1"), 7, 1, 431)).toBe(true);
    expect(appVersionAtLeast(parseAppVersion("7.1.430"), 7, 1, 431)).toBe(false);
  });
});
