import { describe, expect, test } from "bun:test";
import { iceServersFromCommand, toBrowserIceServer, toLibDataChannelUrl } from "../../src/peer/ice-servers.ts";

describe("ICE servers", () => {
  test("libdatachannel URLs become browser RTCIceServers and back", () => {
    expect(toBrowserIceServer("stun:127.0.0.1:3478")).toEqual({ urls: "stun:127.0.0.1:3478" });
    const turn = toBrowserIceServer("turn:alice:p%40ss@127.0.0.1:3478?transport=tcp");
    expect(turn).toEqual({ urls: "turn:127.0.0.1:3478?transport=tcp", username: "alice", credential: "p@ss" });
    expect(toLibDataChannelUrl(turn)).toBe("turn:alice:p%40ss@127.0.0.1:3478?transport=tcp");
    expect(() => toBrowserIceServer("http://x")).toThrow(/stun/);
  });

  test("the per-viewer command's JSON is read in either form; failures are errors", async () => {
    expect(await iceServersFromCommand(`echo '["stun:127.0.0.1:1", {"urls":"turn:127.0.0.1:2","username":"u","credential":"c"}]'`)).toEqual([
      "stun:127.0.0.1:1",
      "turn:u:c@127.0.0.1:2",
    ]);
    await expect(iceServersFromCommand("echo nope")).rejects.toThrow(/JSON/);
    await expect(iceServersFromCommand("exit 3")).rejects.toThrow(/exited with 3/);
  });
});

test("1:1 NAT: a host candidate is copied with the public address; others are left alone", async () => {
  const { withPublicAddress } = await import("../../src/peer/webrtc-viewer.ts");
  expect(withPublicAddress("a=candidate:1 1 UDP 2114977791 10.0.0.5 40204 typ host", "203.0.113.7")).toBe("a=candidate:1 1 UDP 2114977791 203.0.113.7 40204 typ host");
  expect(withPublicAddress("a=candidate:2 1 UDP 1 198.51.100.1 3478 typ relay raddr 0.0.0.0 rport 0", "203.0.113.7")).toBeUndefined();
});
