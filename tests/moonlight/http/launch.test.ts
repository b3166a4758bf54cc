import { describe, expect, test } from "bun:test";
import { launchQuery, parseLaunchResponse, sessionKeysFrom, surroundAudioInfo } from "../../../src/moonlight/http/launch.ts";
import { parseNvHttpDocument } from "../../../src/moonlight/http/nvhttp-xml.ts";

const keys = sessionKeysFrom(Buffer.from("000102030405060708090a0b0c0d0e0f", "hex"), Buffer.from("fedcba98", "hex"));

describe("launch parameters", () => {
  test("rikeyid is the big-endian int32 of the IV prefix, negative values included", () => {
    expect(keys.rikeyId).toBe(0xfedcba98 | 0);
    expect(Buffer.from(keys.rikeyIv).toString("hex")).toBe("fedcba98000000000000000000000000");
  });

  test("the query follows moonlight-qt's order and values", () => {
    const query = launchQuery({ appId: 7, width: 1920, height: 1080, fps: 60, keys }, { gfe: false });
    expect(query.map(([k, v]) => `${k}=${v}`).join("&")).toBe(
      "appid=7&mode=1920x1080x60&additionalStates=1&sops=0&rikey=000102030405060708090a0b0c0d0e0f&rikeyid=-19088744" +
        "&localAudioPlayMode=0&surroundAudioInfo=196610&remoteControllersBitmap=0&gcmap=0&gcpersist=0&corever=1",
    );
  });

  test("HDR adds the client HDR capability block; GFE gets FPS 0 above 60", () => {
    const query = new Map(launchQuery({ appId: 1, width: 3840, height: 2160, fps: 120, keys, hdr: true, audio: "7.1" }, { gfe: true }));
    expect(query.get("hdrMode")).toBe("1");
    expect(query.get("clientHdrCapMetaDataId")).toBe("NV_STATIC_METADATA_TYPE_1");
    expect(query.get("mode")).toBe("3840x2160x0");
    expect(query.get("surroundAudioInfo")).toBe("104792072");
    expect(surroundAudioInfo("5.1")).toBe(4128774);
  });

  test("the reply's session URL says whether RTSP is encrypted", () => {
    const enc = parseLaunchResponse(parseNvHttpDocument('<root status_code="200"><sessionUrl0>rtspenc://[::1]:48010</sessionUrl0><gamesession>1</gamesession></root>'), "gamesession", "::1");
    expect(enc).toEqual({ sessionUrl: "rtspenc://[::1]:48010", rtspEncrypted: true });
    const old = parseLaunchResponse(parseNvHttpDocument('<root status_code="200"><resume>1</resume></root>'), "resume", "10.0.0.2");
    expect(old.sessionUrl).toBe("rtsp://10.0.0.2:48010");
  });
});
