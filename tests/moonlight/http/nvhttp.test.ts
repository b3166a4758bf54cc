/** NvHttpClient against misbehaving servers: every failure is a typed error, within the time limit. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import net from "node:net";
import {
  ConnectionLostError,
  HostHttpError,
  MalformedResponseError,
  RequestAbortedError,
  RequestTimeoutError,
} from "../../../src/moonlight/errors.ts";
import { NvHttpClient } from "../../../src/moonlight/http/nvhttp.ts";

const identity = { uniqueId: "0123456789ABCDEF", certPem: "", keyPem: "" };
const SERVERINFO_OK =
  '<?xml version="1.0" encoding="utf-8"?><root status_code="200"><hostname>h</hostname><appversion>7.1.431.-1</appversion>' +
  "<uniqueid>u</uniqueid><HttpsPort>47984</HttpsPort><state>SUNSHINE_SERVER_FREE</state></root>";

/** A raw TCP server for misbehaviour Bun.serve cannot produce (silence, resets, short bodies). */
type RawBehaviour = (socket: net.Socket, connection: number) => void;

async function rawServer(behaviour: RawBehaviour): Promise<{ port: number; connections: () => number; close: () => Promise<void> }> {
  let count = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => {});
    const n = count++;
    socket.once("data", () => behaviour(socket, n));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    connections: () => count,
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

let bun: ReturnType<typeof Bun.serve>;
const replies: Record<string, () => Response> = {
  "/malformed": () => new Response("<root status_code=\"200\"><hostname>x</root>"),
  "/not-xml": () => new Response("hello, I am not GameStream"),
  "/status503": () => new Response('<root status_code="503" status_message="Failed to initialize video capture/encoding"/>'),
  "/http500": () => new Response("oops", { status: 500 }),
  "/gfe-minus-one": () => new Response('<root status_code="4294967295" status_message="Invalid"/>'),
  "/serverinfo": () => new Response(SERVERINFO_OK),
};

beforeAll(() => {
  bun = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch: (request) => (replies[new URL(request.url).pathname] ?? (() => new Response("", { status: 404 })))(),
  });
});
afterAll(() => bun.stop(true));

const clientOn = (port: number, timeoutMs = 2000) => new NvHttpClient({ address: "127.0.0.1", httpPort: port, identity, timeoutMs });

describe("NvHttpClient error handling", () => {
  test("XML that is not well-formed is a MalformedResponseError", async () => {
    await expect(clientOn(bun.port!).requestXml("/malformed")).rejects.toBeInstanceOf(MalformedResponseError);
    await expect(clientOn(bun.port!).requestXml("/not-xml")).rejects.toBeInstanceOf(MalformedResponseError);
  });

  test("a status_code other than 200 inside the XML is a HostHttpError carrying code and message", async () => {
    const error = (await clientOn(bun.port!).requestXml("/status503").catch((e: unknown) => e)) as HostHttpError;
    expect(error).toBeInstanceOf(HostHttpError);
    expect(error.httpStatus).toBe(200);
    expect(error.statusCode).toBe(503);
    expect(error.statusMessage).toContain("video capture");
  });

  test("GFE's 0xFFFFFFFF status reads as -1", async () => {
    const error = (await clientOn(bun.port!).requestXml("/gfe-minus-one").catch((e: unknown) => e)) as HostHttpError;
    expect(error.statusCode).toBe(-1);
  });

  test("an HTTP error without an XML body is a HostHttpError with the HTTP status", async () => {
    const error = (await clientOn(bun.port!).requestXml("/http500").catch((e: unknown) => e)) as HostHttpError;
    expect(error).toBeInstanceOf(HostHttpError);
    expect(error.httpStatus).toBe(500);
  });

  test("serverinfo without appversion is malformed", async () => {
    const bad = new NvHttpClient({
      address: "127.0.0.1",
      httpPort: bun.port!,
      identity,
      transport: async () => ({ status: 200, contentType: undefined, body: new TextEncoder().encode('<root status_code="200"/>') }),
    });
    await expect(bad.serverInfo()).rejects.toBeInstanceOf(MalformedResponseError);
  });

  test("a server that never answers gives RequestTimeoutError within the time limit", async () => {
    const silent = await rawServer(() => {});
    try {
      const started = Date.now();
      await expect(clientOn(silent.port, 300).serverInfo()).rejects.toBeInstanceOf(RequestTimeoutError);
      expect(Date.now() - started).toBeLessThan(1500);
    } finally {
      await silent.close();
    }
  });

  test("a truncated body is a ConnectionLostError after one retry", async () => {
    const truncating = await rawServer((socket) => socket.end("HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\n<root status_code=\"200\">"));
    try {
      await expect(clientOn(truncating.port).serverInfo()).rejects.toBeInstanceOf(ConnectionLostError);
      expect(truncating.connections()).toBe(2);
    } finally {
      await truncating.close();
    }
  });

  test("a connection reset once (Wolf's reused-connection quirk) is retried and succeeds", async () => {
    const resetting = await rawServer((socket, n) => {
      if (n === 0) socket.resetAndDestroy();
      else socket.end(`HTTP/1.1 200 OK\r\nContent-Length: ${Buffer.byteLength(SERVERINFO_OK)}\r\n\r\n${SERVERINFO_OK}`);
    });
    try {
      const info = await clientOn(resetting.port).serverInfo();
      expect(info.hostname).toBe("h");
      expect(resetting.connections()).toBe(2);
    } finally {
      await resetting.close();
    }
  });

  test("aborting through the signal gives RequestAbortedError promptly", async () => {
    const silent = await rawServer(() => {});
    try {
      const controller = new AbortController();
      setTimeout(() => controller.abort(), 50);
      const started = Date.now();
      await expect(clientOn(silent.port, 10_000).serverInfo({ signal: controller.signal })).rejects.toBeInstanceOf(RequestAbortedError);
      expect(Date.now() - started).toBeLessThan(1000);
    } finally {
      await silent.close();
    }
  });

  test("every request starts with uniqueid and a fresh uuid", () => {
    const ids = ["a-1", "b-2"];
    const client = new NvHttpClient({ address: "::1", identity, newRequestId: () => ids.shift() ?? "" });
    expect(client.buildTarget("/serverinfo")).toBe("/serverinfo?uniqueid=0123456789ABCDEF&uuid=a-1");
    expect(client.buildTarget("/pair", [["devicename", "my box"]])).toBe("/pair?uniqueid=0123456789ABCDEF&uuid=b-2&devicename=my%20box");
  });
});
