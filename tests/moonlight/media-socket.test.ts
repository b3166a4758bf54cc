/**
 * MediaSocket over loopback: pings reach the host with the SETUP payload and a rising sequence,
 * the host's datagrams arrive intact and in order, and a burst far larger than Linux's default
 * receive buffer survives while the event loop is busy (the buffer is enlarged through the fd).
 */
import { afterEach, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { MEDIA_RECEIVE_BUFFER_BYTES, MediaSocket } from "../../src/moonlight/media-socket.ts";
import { setReceiveBuffer, udpSocketFd } from "../../src/moonlight/udp-receive-buffer.ts";
import { until } from "../support/server.ts";

const opened: { close(): void }[] = [];
afterEach(() => {
  for (const s of opened.splice(0)) s.close();
});

async function fakeHost(onPing: (data: Buffer, port: number) => void = () => {}) {
  const socket = await Bun.udpSocket({ hostname: "127.0.0.1", port: 0, socket: { data: (_s, data, port) => onPing(data, port) } });
  opened.push(socket);
  return socket;
}

describe("MediaSocket", () => {
  test("pings carry X-SS-Ping-Payload and a u32be sequence from 1; the host's datagrams arrive byte for byte, in order", async () => {
    const pings: { data: Buffer; port: number }[] = [];
    const host = await fakeHost((data, port) => pings.push({ data, port }));
    const received: Buffer[] = [];
    const media = await MediaSocket.open({ host: "127.0.0.1", port: host.port, pingPayload: "0123456789ABCDEF", onDatagram: (d) => received.push(Buffer.from(d)) });
    opened.push(media);
    media.startPings();
    await until(() => pings.length >= 1, 5_000, "first ping");
    expect(pings[0]!.data.subarray(0, 16).toString("latin1")).toBe("0123456789ABCDEF");
    expect(pings[0]!.data.readUInt32BE(16)).toBe(1);
    expect(pings[0]!.port).toBe(media.localPort);

    const sent = Array.from({ length: 200 }, (_, i) => Buffer.alloc(1400, i & 0xff).fill(i >> 8, 0, 1));
    for (const d of sent) host.send(d, media.localPort, "127.0.0.1");
    await until(() => received.length === sent.length, 5_000, "200 datagrams");
    expect(received.every((d, i) => d.equals(sent[i]!))).toBe(true);
    expect(media.datagrams).toBe(200);
    expect(media.bytes).toBe(200 * 1400);
    media.close();
    media.close(); // idempotent
  });

  test("the receive buffer is enlarged: a 2 MB burst sent while the loop is busy is received whole", async () => {
    const host = await fakeHost();
    let count = 0;
    const media = await MediaSocket.open({ host: "127.0.0.1", port: host.port, onDatagram: () => count++ });
    opened.push(media);
    // What Linux grants: the request capped at rmem_max, doubled for its bookkeeping.
    const rmemMax = Number(readFileSync("/proc/sys/net/core/rmem_max", "latin1"));
    const probe = await Bun.udpSocket({ hostname: "127.0.0.1", port: 0 });
    opened.push(probe);
    expect(setReceiveBuffer(udpSocketFd(probe), MEDIA_RECEIVE_BUFFER_BYTES)).toBe(2 * Math.min(MEDIA_RECEIVE_BUFFER_BYTES, rmemMax));

    // sendMany runs synchronously: nothing is read until it returns, so the kernel must hold it all.
    const burst = Math.min(1500, Math.floor((Math.min(MEDIA_RECEIVE_BUFFER_BYTES, rmemMax) * 2) / 4096));
    const packets: (Buffer | number | string)[] = [];
    for (let i = 0; i < burst; i++) packets.push(Buffer.alloc(1400, i & 0xff), media.localPort, "127.0.0.1");
    expect(host.sendMany(packets)).toBe(burst);
    await until(() => count === burst, 5_000, `${burst} datagrams`);
    await Bun.sleep(50);
    expect(count).toBe(burst);
  });

  test("with filterSource, datagrams from another address are counted and dropped", async () => {
    const host = await fakeHost();
    let count = 0;
    // The session's host is 127.0.0.1; a sender on 127.0.0.2 is someone else.
    const media = await MediaSocket.open({ host: "127.0.0.1", port: host.port, filterSource: true, onDatagram: () => count++ });
    opened.push(media);
    const stranger = await Bun.udpSocket({ hostname: "127.0.0.2", port: 0 });
    opened.push(stranger);
    stranger.send(Buffer.from("not the host"), media.localPort, "127.0.0.1");
    host.send(Buffer.from("the host"), media.localPort, "127.0.0.1");
    await until(() => count === 1 && media.foreignDatagrams === 1, 5_000, "one of each");
    expect(media.datagrams).toBe(1);
  });
});
