/** Pairing against the simulated host over loopback: the outcomes a user sees from `mlstream pair`. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import net from "node:net";
import {
  HostUnreachableError,
  NotPairedError,
  PairingCancelledError,
  PairingInProgressError,
  WrongPinError,
} from "../../../src/moonlight/errors.ts";
import { createClientIdentity, type ClientIdentity } from "../../../src/moonlight/http/identity.ts";
import { NvHttpClient } from "../../../src/moonlight/http/nvhttp.ts";
import { generatePin } from "../../../src/moonlight/http/pairing.ts";
import { sameCertificate } from "../../../src/moonlight/http/pairing-crypto.ts";
import { SimHost } from "../../../src/sim-host/sim-host.ts";

let host: SimHost;
let httpPort: number;
const clientFor = (identity: ClientIdentity, port = httpPort) => new NvHttpClient({ address: "127.0.0.1", httpPort: port, identity, timeoutMs: 3000 });

beforeAll(async () => {
  host = new SimHost({ pin: "4321", hostname: "pairing-sim" });
  ({ httpPort } = await host.start());
});
afterAll(() => host.close());

describe("pairing with the simulated host", () => {
  test("the right PIN pairs, pins the host certificate and unlocks HTTPS", async () => {
    const client = clientFor(createClientIdentity());
    const phases: number[] = [];
    const result = await client.pair({ pin: "4321", onProgress: (_name, index) => phases.push(index) });
    expect(phases).toEqual([1, 2, 3, 4, 5]);
    expect(result.serverInfo.hostname).toBe("pairing-sim");
    expect(sameCertificate(result.serverCertPem, host.identity.certPem)).toBe(true);
    const info = await client.serverInfo();
    expect(info.paired).toBe(true);
    expect(host.pairedClients.map((c) => c.uniqueId)).toContain(client.identity.uniqueId);
  });

  test("a wrong PIN fails with WrongPinError and leaves the client unpaired", async () => {
    const identity = createClientIdentity();
    const client = clientFor(identity);
    await expect(client.pair({ pin: "1111" })).rejects.toBeInstanceOf(WrongPinError);
    expect(client.serverCertPem).toBeUndefined();
    expect(host.pairedClients.map((c) => c.uniqueId)).not.toContain(identity.uniqueId);
    // HTTPS with the host certificate pinned anyway is refused: the client is not paired.
    client.serverCertPem = host.identity.certPem;
    await expect(client.appList()).rejects.toBeInstanceOf(NotPairedError);
  });

  test("cancelling mid-way gives PairingCancelledError and the host can pair again at once", async () => {
    const identity = createClientIdentity();
    const controller = new AbortController();
    const client = clientFor(identity);
    const attempt = client.pair({
      pin: "4321",
      signal: controller.signal,
      onProgress: (name) => {
        if (name === "serverchallengeresp") controller.abort();
      },
    });
    await expect(attempt).rejects.toBeInstanceOf(PairingCancelledError);
    expect(host.pairedClients.map((c) => c.uniqueId)).not.toContain(identity.uniqueId);
    // Another client is not told "already pairing".
    const other = clientFor(createClientIdentity());
    await other.pair({ pin: "4321" });
    // And the cancelled client can retry.
    await client.pair({ pin: "4321" });
    expect(host.pairedClients.map((c) => c.uniqueId)).toContain(identity.uniqueId);
  });

  test("a pairing already pending on the host makes a second client fail with PairingInProgressError", async () => {
    const operatorHost = new SimHost(); // no fixed PIN: phase 1 waits for the operator
    const { httpPort: port } = await operatorHost.start();
    try {
      const first = clientFor(createClientIdentity(), port);
      const pin = generatePin();
      const waiting = new Promise<void>((resolve) => operatorHost.once("pinRequested", () => resolve()));
      const firstPairing = first.pair({ pin });
      await waiting;
      const second = clientFor(createClientIdentity(), port);
      await expect(second.pair({ pin: "0000" })).rejects.toBeInstanceOf(PairingInProgressError);
      // The operator types the first client's PIN: that pairing still completes.
      expect(operatorHost.submitPin(pin)).toBe(true);
      await firstPairing;
      expect(operatorHost.pairedClients).toHaveLength(1);
    } finally {
      await operatorHost.close();
    }
  });

  test("cancelling while the host waits for its operator releases the host", async () => {
    const operatorHost = new SimHost();
    const { httpPort: port } = await operatorHost.start();
    try {
      const controller = new AbortController();
      operatorHost.once("pinRequested", () => controller.abort());
      const started = Date.now();
      await expect(clientFor(createClientIdentity(), port).pair({ signal: controller.signal })).rejects.toBeInstanceOf(PairingCancelledError);
      expect(Date.now() - started).toBeLessThan(2000);
      // A new attempt is not refused as "in progress", and its PIN can be typed through POST /pin/.
      operatorHost.once("pinRequested", () => {
        void fetch(`http://127.0.0.1:${port}/pin/`, { method: "POST", body: JSON.stringify({ pin: "2468" }) });
      });
      await clientFor(createClientIdentity(), port).pair({ pin: "2468" });
      expect(operatorHost.pairedClients).toHaveLength(1);
    } finally {
      await operatorHost.close();
    }
  });

  test("an unreachable host fails fast with HostUnreachableError", async () => {
    // A port that was free a moment ago: nothing listens there.
    const probe = net.createServer();
    await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
    const freePort = (probe.address() as net.AddressInfo).port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const started = Date.now();
    await expect(clientFor(createClientIdentity(), freePort).pair({ pin: "1234" })).rejects.toBeInstanceOf(HostUnreachableError);
    expect(Date.now() - started).toBeLessThan(1000);
  });
});
