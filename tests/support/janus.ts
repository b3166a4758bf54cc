/**
 * Test support: Debian's Janus (`apt-get install janus`), started by the test on loopback with a
 * configuration the test writes: the HTTP transport only (on 127.0.0.1, a free port) and the
 * streaming plugin only, RTP ports in a range of the test's choosing. Restartable on the same port
 * (to test that a streamer survives a Janus restart).
 *
 * Janus never gathers ICE candidates on a loopback interface, and gathers on every other one when
 * none it is told to use qualifies. So that its WebRTC traffic stays on 127.0.0.0/8, the test gives
 * it an interface of its own holding a 127.x address: one end of a veth pair (needs root, as CI has;
 * this kernel has no dummy interfaces). Packets to that address are delivered locally, like any
 * 127/8 traffic; the pair is removed on stop().
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

const JANUS = "/usr/bin/janus";
const LIB = "/usr/lib/x86_64-linux-gnu/janus";
const OTHER_PLUGINS = ["audiobridge", "duktape", "echotest", "lua", "nosip", "recordplay", "sip", "textroom", "videocall", "videoroom", "voicemail"];
const OTHER_TRANSPORTS = ["mqtt", "nanomsg", "pfunix", "rabbitmq", "websockets"];

export class JanusMissingError extends Error {
  override name = "JanusMissingError";
  constructor() {
    super(`${JANUS} is missing: install Debian's janus (apt-get install janus; .ci/run does)`);
  }
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, "127.0.0.1", () => {
      const port = (server.address() as { port: number }).port;
      server.close(() => resolve(port));
    });
    server.on("error", reject);
  });
}

export interface RunningJanus {
  /** The HTTP API, e.g. http://127.0.0.1:34567/janus. */
  url: string;
  /**
   * A 127/8 address beside Janus's own on its ICE interface, for WebRTC clients that bind to one
   * address (node-datachannel): bound to 127.0.0.1 they never complete ICE with Janus's address.
   */
  clientAddress: string;
  pid: number;
  log: () => string;
  /** Kills Janus (SIGKILL: a crash, not a clean stop). */
  kill(): Promise<void>;
  /** Starts it again on the same port. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

/** A veth end named `name` holding each of `addresses`/32; returns its remover. */
function loopbackInterface(name: string, addresses: string[]): () => void {
  const run = (args: string[]) => {
    const result = Bun.spawnSync(["ip", ...args], { stderr: "pipe" });
    if (result.exitCode !== 0) throw new Error(`ip ${args.join(" ")}: ${result.stderr.toString().trim()} (Janus's ICE interface needs root)`);
  };
  run(["link", "add", name, "type", "veth", "peer", "name", `${name}p`]);
  for (const address of addresses) run(["addr", "add", `${address}/32`, "dev", name]);
  run(["link", "set", name, "up"]);
  run(["link", "set", `${name}p`, "up"]);
  return () => void Bun.spawnSync(["ip", "link", "del", name]);
}

export async function startJanus(): Promise<RunningJanus> {
  if (!existsSync(JANUS)) throw new JanusMissingError();
  const dir = mkdtempSync(join(tmpdir(), "mlstream-janus-"));
  const tag = Math.floor(Math.random() * 0xffff);
  const iceInterface = `mlsj${tag.toString(16)}`;
  const subnet = `127.${100 + ((tag >> 8) % 100)}.${tag & 0xff}`;
  const removeInterface = loopbackInterface(iceInterface, [`${subnet}.1`, `${subnet}.2`]);
  const configs = join(dir, "cfg");
  mkdirSync(configs);
  const port = await freePort();
  const rtpBase = 20_000 + Math.floor(Math.random() * 200) * 100;
  writeFileSync(
    join(configs, "janus.jcfg"),
    `general: {
  configs_folder = "${configs}"
  plugins_folder = "${LIB}/plugins"
  transports_folder = "${LIB}/transports"
  events_folder = "${LIB}/events"
  loggers_folder = "${LIB}/loggers"
  debug_level = 4
  session_timeout = 60
}
media: {
  rtp_port_range = "${rtpBase}-${rtpBase + 49}"
}
nat: {
  ice_enforce_list = "${iceInterface}"
}
plugins: {
  disable = "${OTHER_PLUGINS.map((p) => `libjanus_${p}.so`).join(",")}"
}
transports: {
  disable = "${OTHER_TRANSPORTS.map((t) => `libjanus_${t}.so`).join(",")}"
}
loggers: {
  disable = "libjanus_jsonlog.so"
}
events: {
  broadcast = false
}
`,
  );
  writeFileSync(
    join(configs, "janus.transport.http.jcfg"),
    `general: {
  json = "plain"
  base_path = "/janus"
  http = true
  port = ${port}
  ip = "127.0.0.1"
  https = false
}
admin: {
  admin_http = false
}
`,
  );
  // The mountpoints' own RTP ports (the plugin picks them when asked for port 0).
  writeFileSync(join(configs, "janus.plugin.streaming.jcfg"), `general: {\n  rtp_port_range = "${rtpBase + 50}-${rtpBase + 99}"\n}\n`);

  let proc: ReturnType<typeof Bun.spawn> | undefined;
  let logText = "";
  const url = `http://127.0.0.1:${port}/janus`;
  const launch = async () => {
    const child = Bun.spawn([JANUS, "-C", join(configs, "janus.jcfg"), "-F", configs, "-o"], { stdout: "pipe", stderr: "pipe" });
    proc = child;
    for (const stream of [child.stdout, child.stderr] as ReadableStream<Uint8Array>[]) {
      void (async () => {
        for await (const chunk of stream) logText += new TextDecoder().decode(chunk);
      })();
    }
    const deadline = Date.now() + 10_000;
    for (;;) {
      try {
        const response = await fetch(url, { method: "POST", body: JSON.stringify({ janus: "info", transaction: "ready" }) });
        if (response.ok) return;
      } catch {
        // not listening yet
      }
      if (child.exitCode !== null || Date.now() > deadline) throw new Error(`janus did not start:\n${logText.slice(-2000)}`);
      await Bun.sleep(50);
    }
  };
  await launch();
  const kill = async () => {
    if (!proc) return;
    proc.kill("SIGKILL");
    await proc.exited;
    proc = undefined;
  };
  return {
    url,
    clientAddress: `${subnet}.2`,
    get pid() {
      return proc?.pid ?? -1;
    },
    log: () => logText,
    kill,
    restart: launch,
    async stop() {
      await kill();
      removeInterface();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
