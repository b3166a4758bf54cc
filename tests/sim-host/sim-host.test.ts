/** The simulated host's control half, driven by our client over loopback HTTP/HTTPS. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { AppNotFoundError, CertificateMismatchError, HostHttpError, NotPairedError } from "../../src/moonlight/errors.ts";
import { createClientIdentity, createSelfSignedIdentity } from "../../src/moonlight/http/identity.ts";
import { createSessionKeys, type LaunchOptions } from "../../src/moonlight/http/launch.ts";
import { NvHttpClient } from "../../src/moonlight/http/nvhttp.ts";
import { PNG_SIGNATURE } from "../../src/sim-host/png.ts";
import { SimHost } from "../../src/sim-host/sim-host.ts";

let host: SimHost;
let client: NvHttpClient;
let ports: { httpPort: number; httpsPort: number };

beforeAll(async () => {
  host = new SimHost({ pin: "1234", hostname: "control-sim", rtspPort: 48010 });
  ports = await host.start();
  client = new NvHttpClient({ address: "127.0.0.1", httpPort: ports.httpPort, identity: createClientIdentity(), timeoutMs: 3000 });
  await client.pair({ pin: "1234" });
});
afterAll(() => host.close());

const launchOptions = (appId: number): LaunchOptions => ({ appId, width: 1280, height: 720, fps: 60, keys: createSessionKeys() });

describe("SimHost serverinfo", () => {
  test("plain HTTP advertises a Sunshine-generation host with its real ports and hides pairing state", async () => {
    const info = await client.serverInfo({ https: false });
    expect(info.hostname).toBe("control-sim");
    expect(info.appVersion.text).toBe("7.1.431.-1");
    expect(info.features.sunshine).toBe(true);
    expect(info.httpsPort).toBe(ports.httpsPort);
    expect(info.externalPort).toBe(ports.httpPort);
    expect(info.paired).toBe(false);
    expect(info.mac).toBeUndefined();
    expect(info.codecs).toContain("H264");
    expect(info.state).toBe("SUNSHINE_SERVER_FREE");
  });

  test("HTTPS with a paired certificate reports PairStatus 1 and the MAC", async () => {
    const info = await client.serverInfo();
    expect(info.paired).toBe(true);
    expect(info.mac).toBe("02:00:00:00:00:01");
  });
});

describe("SimHost apps", () => {
  test("the app list has at least two apps", async () => {
    const apps = await client.appList();
    expect(apps.length).toBeGreaterThanOrEqual(2);
    expect(apps.map((a) => a.title)).toContain("Desktop");
  });

  test("box art comes back as a PNG image", async () => {
    const [app] = await client.appList();
    const asset = await client.appAsset(app!.id);
    expect(asset.contentType).toBe("image/png");
    expect(Buffer.from(asset.bytes.subarray(0, 8)).equals(Buffer.from(PNG_SIGNATURE))).toBe(true);
  });

  test("findApp matches titles case-insensitively and gives up with AppNotFoundError", async () => {
    expect((await client.findApp("test pattern")).title).toBe("Test Pattern");
    await expect(client.findApp("No Such Game", { attempts: 2, delayMs: 10 })).rejects.toBeInstanceOf(AppNotFoundError);
  });
});

describe("SimHost launch, resume, cancel", () => {
  test("launch starts the app: serverinfo shows busy and the current game, keys reach the host state", async () => {
    const [app] = await client.appList();
    const options = launchOptions(app!.id);
    const launched = await client.launch(options);
    expect(launched.sessionUrl).toBe("rtsp://127.0.0.1:48010");
    expect(launched.rtspEncrypted).toBe(false);
    const info = await client.serverInfo();
    expect(info.busy).toBe(true);
    expect(info.currentGame).toBe(app!.id);
    const session = host.state.session!;
    expect(Buffer.from(session.rikey).equals(Buffer.from(options.keys.rikey))).toBe(true);
    expect(session.rikeyId).toBe(options.keys.rikeyId);
    expect(Buffer.from(session.rikeyIv).equals(Buffer.from(options.keys.rikeyIv))).toBe(true);
    expect([session.width, session.height, session.fps]).toEqual([1280, 720, 60]);
    expect(session.surroundAudioInfo).toBe(196610);
    expect(session.coreVersion).toBe(1);
  });

  test("a second launch while an app runs is refused with the host's 400", async () => {
    const [, other] = await client.appList();
    const error = await client.launch(launchOptions(other!.id)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HostHttpError);
    expect((error as HostHttpError).statusCode).toBe(400);
  });

  test("resume rejoins the running app with fresh keys", async () => {
    const running = host.state.runningApp!.id;
    const options = launchOptions(0);
    const resumed = await client.resume(options);
    expect(resumed.sessionUrl).toStartWith("rtsp://");
    expect(host.state.session?.resumed).toBe(true);
    expect(host.state.session?.rikeyId).toBe(options.keys.rikeyId);
    expect(host.state.runningApp?.id).toBe(running);
  });

  test("cancel stops the app and the host is free again; resume then fails with 503", async () => {
    await client.cancel();
    const info = await client.serverInfo();
    expect(info.busy).toBe(false);
    expect(info.currentGame).toBe(0);
    const error = await client.resume(launchOptions(0)).catch((e: unknown) => e);
    expect((error as HostHttpError).statusCode).toBe(503);
  });
});

describe("SimHost HTTPS security", () => {
  test("an unpaired client certificate is refused with 401 on every HTTPS path", async () => {
    const stranger = new NvHttpClient({
      address: "127.0.0.1",
      httpPort: ports.httpPort,
      identity: createClientIdentity(),
      serverCertPem: host.identity.certPem,
      timeoutMs: 3000,
    });
    await expect(stranger.appList()).rejects.toBeInstanceOf(NotPairedError);
    await expect(stranger.launch(launchOptions(881448767))).rejects.toBeInstanceOf(NotPairedError);
    // serverinfo falls back to plain HTTP, as Moonlight does.
    expect((await stranger.serverInfo()).paired).toBe(false);
  });

  test("a host presenting another certificate than the pinned one fails with CertificateMismatchError", async () => {
    const impostor = new SimHost({ pin: "1234", identity: createSelfSignedIdentity({ subject: { CN: "Sunshine Gamestream Host" } }) });
    const impostorPorts = await impostor.start();
    try {
      const pinned = new NvHttpClient({
        address: "127.0.0.1",
        httpPort: impostorPorts.httpPort,
        identity: client.identity,
        serverCertPem: host.identity.certPem,
        timeoutMs: 3000,
      });
      await expect(pinned.appList()).rejects.toBeInstanceOf(CertificateMismatchError);
      await expect(pinned.serverInfo()).rejects.toBeInstanceOf(CertificateMismatchError);
    } finally {
      await impostor.close();
    }
  });

  test("unpair makes the host forget the client", async () => {
    const identity = createClientIdentity();
    const temp = new NvHttpClient({ address: "127.0.0.1", httpPort: ports.httpPort, identity, timeoutMs: 3000 });
    await temp.pair({ pin: "1234" });
    expect(await temp.unpair()).toBe(true);
    await expect(temp.appList()).rejects.toBeInstanceOf(NotPairedError);
  });

  test("close() is idempotent and frees the ports", async () => {
    const temp = new SimHost({ pin: "1234" });
    const { httpPort } = await temp.start();
    await temp.close();
    await temp.close();
    const again = new SimHost({ pin: "1234", httpPort });
    await again.start();
    await again.close();
  });
});

describe("SimHost over IPv6 loopback", () => {
  test("pairs and launches on ::1 with a bracketed session URL", async () => {
    const v6 = new SimHost({ pin: "1234", bindAddress: "::1", rtspPort: 48010 });
    const v6Ports = await v6.start();
    try {
      const v6Client = new NvHttpClient({ address: "::1", httpPort: v6Ports.httpPort, identity: createClientIdentity(), timeoutMs: 3000 });
      await v6Client.pair({ pin: "1234" });
      const info = await v6Client.serverInfo();
      expect(info.localIp).toBe("127.0.0.1"); // Sunshine's answer to IPv6 requests
      const [app] = await v6Client.appList();
      expect((await v6Client.launch(launchOptions(app!.id))).sessionUrl).toBe("rtsp://[::1]:48010");
    } finally {
      await v6.close();
    }
  });
});
