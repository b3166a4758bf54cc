import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { SHARED_IDENTITY_ID, Store } from "../../src/core/store.ts";
import { HostNotPairedError, HostService } from "../../src/hosts/host-service.ts";
import { CertificateMismatchError, PairingCancelledError, WrongPinError } from "../../src/moonlight/errors.ts";
import { SimHost } from "../../src/sim-host/sim-host.ts";
import { tempDir } from "../support/cli.ts";

const dir = tempDir();
let store: Store;
let sim: SimHost;
let endpoint = "";

beforeAll(async () => {
  store = Store.open(join(dir.path, "data"));
  sim = new SimHost({ pin: "1111" });
  const { httpPort } = await sim.start();
  endpoint = `127.0.0.1:${httpPort}`;
});

afterAll(async () => {
  await sim.close();
  store.close();
  dir.cleanup();
});

describe("HostService", () => {
  test("the shared identity is created once and persisted with its key", () => {
    const service = new HostService(store);
    const a = service.identity();
    const b = new HostService(store).identity();
    expect(b.uniqueId).toBe(a.uniqueId);
    expect(a.keyPem).toContain("PRIVATE KEY");
    expect(store.getIdentity(SHARED_IDENTITY_ID)?.certPem).toBe(a.certPem);
  });

  test("pairing pins the host certificate per identity; a per-streamer identity pairs separately", async () => {
    const service = new HostService(store);
    const { host } = await service.add(endpoint);
    await service.pair(host.id, { pin: "1111" });
    expect(store.getPairing(host.id, SHARED_IDENTITY_ID)?.serverCertPem).toContain("BEGIN CERTIFICATE");
    expect(() => service.pairedClient(host, "streamer-a")).toThrow(HostNotPairedError);
    await service.pair(host.id, { pin: "1111", identityId: "streamer-a" });
    expect(service.identity("streamer-a").uniqueId).not.toBe(service.identity().uniqueId);
    expect((await service.apps(host.id, "streamer-a")).length).toBeGreaterThanOrEqual(2);
    const art = await service.appAsset(host.id, (await service.apps(host.id))[0]!.id);
    expect([...art.bytes.subarray(0, 4)]).toEqual([0x89, 0x50, 0x4e, 0x47]);
  });

  test("a host that presents another certificate than the pinned one is refused", async () => {
    const service = new HostService(store);
    const host = service.get(endpoint);
    // As if another machine had taken over the address: what we pinned is not what it presents.
    const impostor = new SimHost({ pin: "1111" });
    service.identity("pinned-wrong");
    store.putPairing({ hostId: host.id, identityId: "pinned-wrong", serverCertPem: impostor.identity.certPem, pairedAt: Date.now() });
    await expect(service.apps(host.id, "pinned-wrong")).rejects.toBeInstanceOf(CertificateMismatchError);
  });

  test("statuses report an offline host without failing the others", async () => {
    const service = new HostService(store);
    store.addHost({ id: "gone", address: "127.0.0.1", httpPort: 9, name: "gone", uuid: null });
    const statuses = await service.statuses({ timeoutMs: 1000 });
    expect(statuses.find((s) => s.host.id === "gone")).toMatchObject({ online: false });
    expect(statuses.find((s) => s.host.id !== "gone")).toMatchObject({ online: true, pairedIdentities: expect.arrayContaining([SHARED_IDENTITY_ID, "streamer-a"]) });
  });

  test("status says what the host says: a client removed on the host is not reported paired", async () => {
    const service = new HostService(store);
    const host = service.get(endpoint);
    await service.pair(host.id, { pin: "1111", identityId: "removed-on-host" });
    expect((await service.status(host)).pairedIdentities).toContain("removed-on-host");
    // As if the host's operator removed this client in the host's UI.
    sim.unpairClient(service.identity("removed-on-host").uniqueId);
    const status = await service.status(host);
    expect(status.pairedIdentities).not.toContain("removed-on-host");
    expect(status.pairedIdentities).toContain(SHARED_IDENTITY_ID);
    expect(status.unpairedByHost).toEqual(["removed-on-host"]);
  });

  test("a failed re-pairing (wrong PIN) leaves the working pairing working, on the host and in the store", async () => {
    const service = new HostService(store);
    const host = service.get(endpoint);
    const pinned = store.getPairing(host.id, SHARED_IDENTITY_ID)!;
    await expect(service.pair(host.id, { pin: "0000" })).rejects.toBeInstanceOf(WrongPinError);
    expect(sim.pairedClients.map((c) => c.uniqueId)).toContain(service.identity().uniqueId);
    expect(store.getPairing(host.id, SHARED_IDENTITY_ID)).toEqual(pinned);
    expect((await service.apps(host.id)).length).toBeGreaterThanOrEqual(2);
    expect((await service.status(host)).pairedIdentities).toContain(SHARED_IDENTITY_ID);
  });

  test("a cancelled re-pairing (while the host waits for the PIN) leaves the working pairing working", async () => {
    // A host that waits for its operator to type the PIN, as Sunshine's web UI does.
    const waiting = new SimHost({});
    const { httpPort } = await waiting.start();
    try {
      const service = new HostService(store);
      const { host } = await service.add(`127.0.0.1:${httpPort}`);
      await service.pair(host.id, { onPin: (pin) => setTimeout(() => waiting.submitPin(pin), 50) });
      const abort = new AbortController();
      await expect(service.pair(host.id, { signal: abort.signal, onPin: () => setTimeout(() => abort.abort(), 200) })).rejects.toBeInstanceOf(PairingCancelledError);
      expect(waiting.pairedClients.map((c) => c.uniqueId)).toContain(service.identity().uniqueId);
      expect((await service.apps(host.id)).length).toBeGreaterThanOrEqual(2);
    } finally {
      await waiting.close();
    }
  });

});
