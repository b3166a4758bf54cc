import { afterEach, describe, expect, test } from "bun:test";
import dgram from "node:dgram";
import { EnetHost, type EnetHostOptions } from "../../../../src/moonlight/control/enet/host.ts";
import type { DisconnectInfo, EnetPeer, SendMode } from "../../../../src/moonlight/control/enet/peer.ts";

const hosts: EnetHost[] = [];
afterEach(async () => {
  await Promise.all(hosts.splice(0).map((h) => h.close()));
});

async function pair(serverOptions: EnetHostOptions = {}, clientOptions: EnetHostOptions = {}, data = 0) {
  const server = await EnetHost.create({ acceptIncoming: true, peerLimit: 4, ...serverOptions });
  const client = await EnetHost.create(clientOptions);
  hosts.push(server, client);
  const accepted = new Promise<{ peer: EnetPeer; data: number }>((resolve) => server.once("connect", (peer, d) => resolve({ peer, data: d })));
  const clientPeer = await client.connect("127.0.0.1", server.localAddress.port, { channelCount: 48, data });
  const { peer: serverPeer, data: connectData } = await accepted;
  return { server, client, clientPeer, serverPeer, connectData };
}

interface Received {
  channel: number;
  data: Uint8Array;
  mode: SendMode;
}

function collect(peer: EnetPeer): Received[] {
  const got: Received[] = [];
  peer.on("receive", (channel, data, mode) => got.push({ channel, data, mode }));
  return got;
}

async function until(condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await Bun.sleep(5);
  }
}

function nextDisconnect(peer: EnetPeer): Promise<DisconnectInfo> {
  return new Promise((resolve) => peer.once("disconnect", resolve));
}

const text = (s: string) => new TextEncoder().encode(s);
const str = (b: Uint8Array) => new TextDecoder().decode(b);

describe("ENet client ↔ server over loopback", () => {
  test("the handshake connects both sides and passes the CONNECT data word to the server", async () => {
    const { clientPeer, serverPeer, connectData } = await pair({ channelLimit: 32 }, {}, 3141592653);
    expect(connectData).toBe(3141592653);
    expect(clientPeer.state).toBe("connected");
    await until(() => serverPeer.state === "connected");
    // The server granted min(48, its limit) and both sides agree on it.
    expect(clientPeer.channelCount).toBe(32);
    expect(serverPeer.channelCount).toBe(32);
    // Fresh slots pick session IDs 0/0, as in the capture.
    expect(clientPeer.describe()).toMatchObject({ incomingSessionID: 0, outgoingSessionID: 0, outgoingPeerID: 0, mtu: 900 });
  });

  test("reliable messages arrive complete and in order on each channel", async () => {
    const { clientPeer, serverPeer } = await pair();
    const got = collect(serverPeer);
    for (let i = 0; i < 100; i++) clientPeer.send(i % 3, text(`msg ${i}`));
    await until(() => got.length === 100);
    for (const channel of [0, 1, 2]) {
      const seq = got.filter((r) => r.channel === channel).map((r) => Number(str(r.data).slice(4)));
      expect(seq).toEqual([...Array(100).keys()].filter((i) => i % 3 === channel));
    }
    expect(got.every((r) => r.mode === "reliable")).toBe(true);
    await until(() => clientPeer.unacknowledgedCount === 0);
  });

  test("a 200 kB message is fragmented and reassembled in both directions", async () => {
    const { clientPeer, serverPeer } = await pair();
    const big = new Uint8Array(200_000);
    for (let i = 0; i < big.length; i++) big[i] = (i * 7 + (i >> 8)) & 0xff;
    const atServer = collect(serverPeer);
    const atClient = collect(clientPeer);
    clientPeer.send(5, big);
    clientPeer.send(5, text("after"));
    serverPeer.send(0, big.subarray(1000));
    await until(() => atServer.length === 2 && atClient.length === 1);
    expect(Buffer.from(atServer[0]!.data).equals(Buffer.from(big))).toBe(true);
    expect(str(atServer[1]!.data)).toBe("after");
    expect(Buffer.from(atClient[0]!.data).equals(Buffer.from(big.subarray(1000)))).toBe(true);
    expect(clientPeer.fragmentLength).toBe(872);
  });

  test("retransmission recovers from dropping every 4th datagram in both directions", async () => {
    let out = 0;
    let inc = 0;
    const { clientPeer, serverPeer, client } = await pair(
      {},
      { dropOutgoing: () => ++out > 3 && out % 4 === 0, dropIncoming: () => ++inc > 3 && inc % 4 === 0 },
    );
    const got = collect(serverPeer);
    const big = new Uint8Array(20_000).fill(0x5a);
    for (let i = 0; i < 60; i++) clientPeer.send(0, i === 30 ? big : text(`m${i}`));
    await until(() => got.length === 60, 20000);
    expect(got.map((r) => (r.data.byteLength === big.byteLength ? "big" : str(r.data)))).toEqual(
      [...Array(60).keys()].map((i) => (i === 30 ? "big" : `m${i}`)),
    );
    expect(client.stats.droppedByFilter).toBeGreaterThan(5);
    expect(clientPeer.stats.retransmissions).toBeGreaterThan(0);
  }, 30000);

  test("unreliable and unsequenced packets are delivered (once each)", async () => {
    const { clientPeer, serverPeer } = await pair();
    const got = collect(serverPeer);
    clientPeer.send(3, text("u1"), "unreliable");
    clientPeer.send(3, text("u2"), "unreliable");
    clientPeer.send(0, text("s1"), "unsequenced");
    clientPeer.send(3, text("r1"), "reliable");
    clientPeer.send(3, text("u3"), "unreliable");
    await until(() => got.length === 5);
    expect(got.map((r) => `${r.mode}:${str(r.data)}`)).toEqual([
      "unreliable:u1",
      "unreliable:u2",
      "unsequenced:s1",
      "reliable:r1",
      "unreliable:u3",
    ]);
  });

  test("a peer that stops answering is declared dead by the peer timeout", async () => {
    let blackhole = false;
    const { clientPeer, serverPeer } = await pair({ dropIncoming: () => blackhole });
    clientPeer.setTimeouts({ limit: 2, minimumMs: 300, maximumMs: 1000 });
    const dead = nextDisconnect(clientPeer);
    const started = Date.now();
    blackhole = true;
    clientPeer.send(0, text("into the void"));
    const info = await dead;
    expect(info.reason).toBe("timeout");
    expect(clientPeer.state).toBe("disconnected");
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    expect(Date.now() - started).toBeLessThan(3000);
    serverPeer.reset();
  });

  test("a graceful disconnect is acknowledged and reported on both sides", async () => {
    const { clientPeer, serverPeer } = await pair();
    const got = collect(serverPeer);
    const clientDone = nextDisconnect(clientPeer);
    const serverDone = nextDisconnect(serverPeer);
    clientPeer.send(0, text("last words"));
    clientPeer.disconnect(0);
    clientPeer.disconnect(0); // idempotent
    expect(await clientDone).toEqual({ reason: "local", data: 0 });
    expect(await serverDone).toEqual({ reason: "remote", data: 0 });
    // Queued reliable data went out before the DISCONNECT.
    expect(got.map((r) => str(r.data))).toEqual(["last words"]);
  });

  test("an immediate disconnect reaches the other side without an ACK round", async () => {
    const { server, clientPeer, serverPeer } = await pair();
    const serverDone = nextDisconnect(serverPeer);
    serverPeer.disconnectNow(7);
    expect(serverPeer.state).toBe("disconnected");
    const info = await nextDisconnect(clientPeer);
    expect(info).toEqual({ reason: "remote", data: 7 });
    expect((await serverDone).reason).toBe("local");
    expect(server.peers).toHaveLength(0);
  });

  test("garbage and foreign datagrams are counted and ignored; the connection keeps working", async () => {
    const { server, clientPeer, serverPeer } = await pair();
    const got = collect(serverPeer);
    const raw = dgram.createSocket("udp4");
    const port = server.localAddress.port;
    const send = (bytes: Uint8Array) => new Promise<void>((r) => raw.send(bytes, port, "127.0.0.1", () => r()));
    await send(Uint8Array.from([1]));
    await send(Uint8Array.from([0xde, 0xad, 0xbe, 0xef, 0x00]));
    await send(crypto.getRandomValues(new Uint8Array(300)).fill(0xff, 0, 1));
    // Well-formed ENet aimed at peer 0 but from a different address/port: must not be accepted.
    await send(Uint8Array.from([0x80, 0x00, 0x12, 0x34, 0x86, 0x00, 0x00, 0x01, 0x00, 0x01, 0x41]));
    raw.close();
    clientPeer.send(0, text("still here"));
    await until(() => got.length === 1);
    expect(str(got[0]!.data)).toBe("still here");
    expect(server.stats.malformedDatagrams).toBeGreaterThanOrEqual(2);
    expect(server.stats.foreignDatagrams).toBeGreaterThanOrEqual(1);
  });

  test("keep-alive PINGs flow when the line is quiet", async () => {
    const { clientPeer, client } = await pair();
    clientPeer.setPingInterval(50);
    const before = client.stats.datagramsSent;
    await Bun.sleep(300);
    expect(client.stats.datagramsSent - before).toBeGreaterThanOrEqual(3);
    expect(clientPeer.stats.roundTripTimeMs).toBeLessThan(100);
  });

  test("a quiet connection wakes its host only for its keep-alive deadlines, not every 10 ms", async () => {
    const { client, server, clientPeer } = await pair();
    const got = collect(clientPeer);
    await Bun.sleep(100);
    const [c0, s0] = [client.stats.timerWakeups, server.stats.timerWakeups];
    await Bun.sleep(1000);
    // A 10 ms tick would be ~100 here; PINGs every 500 ms (and their ACKs) need a few.
    expect(client.stats.timerWakeups - c0).toBeLessThan(15);
    expect(server.stats.timerWakeups - s0).toBeLessThan(15);
    expect(clientPeer.state).toBe("connected");
    // And a reliable message still goes out at once and arrives.
    const serverGot = new Promise<Uint8Array>((resolve) => server.peers[0]!.once("receive", (_c, data) => resolve(data)));
    clientPeer.send(1, text("after the quiet"), "reliable");
    expect(str(await serverGot)).toBe("after the quiet");
    expect(got).toEqual([]);
  });

  test("connect fails with a timeout when nobody answers", async () => {
    const client = await EnetHost.create();
    hosts.push(client);
    const silent = dgram.createSocket("udp4");
    await new Promise<void>((r) => silent.bind(0, "127.0.0.1", () => r()));
    const port = silent.address().port;
    await expect(client.connect("127.0.0.1", port, { timeoutMs: 300 })).rejects.toThrow(/within 300 ms/);
    silent.close();
  });

  test("close() is idempotent and tells the connected peer", async () => {
    const { client, serverPeer } = await pair();
    const serverDone = nextDisconnect(serverPeer);
    const first = client.close();
    expect(client.close()).toBe(first);
    await first;
    expect((await serverDone).reason).toBe("remote");
  });
});
