/**
 * Debian's coturn (`turnserver`), started by the test on loopback with a config the test writes:
 * its own listening port, a static long-term user, no TLS/DTLS listeners, no telnet CLI, relay
 * addresses on 127.0.0.1 and loopback peers allowed (mlstream's candidates are on loopback).
 * Nothing leaves 127.0.0.0/8.
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { createSocket } from "node:dgram";
import { join } from "node:path";
import { tempDir } from "./cli.ts";

export const TURNSERVER = "/usr/bin/turnserver";

export interface RunningTurn {
  port: number;
  user: string;
  password: string;
  /** libdatachannel / mlstream config form: `turn:user:password@127.0.0.1:port`. */
  url: string;
  /** Ports coturn hands out as relay addresses (on 127.0.0.1). */
  relayPorts: { min: number; max: number };
  /** Allocations coturn logged so far (each relay a client asked for). */
  allocations(): number;
  log(): string;
  stop(): Promise<void>;
}

/** A UDP port free on 127.0.0.1 right now. */
async function freeUdpPort(): Promise<number> {
  const socket = createSocket("udp4");
  await new Promise<void>((resolve) => socket.bind(0, "127.0.0.1", resolve));
  const port = socket.address().port;
  await new Promise<void>((resolve) => socket.close(() => resolve()));
  return port;
}

export async function startTurn(): Promise<RunningTurn> {
  if (!existsSync(TURNSERVER)) throw new Error(`${TURNSERVER} is missing: apt-get install coturn`);
  const dir = tempDir("mlstream-turn-");
  const port = await freeUdpPort();
  // Relay ports: a random window high up, away from the listening port.
  const minPort = 50_000 + Math.floor(Math.random() * 70) * 200;
  const user = "mlstream";
  const password = `pw${Math.random().toString(36).slice(2, 10)}`;
  const logFile = join(dir.path, "turn.log");
  const config = join(dir.path, "turnserver.conf");
  writeFileSync(
    config,
    [
      `listening-port=${port}`,
      "listening-ip=127.0.0.1",
      "relay-ip=127.0.0.1",
      `min-port=${minPort}`,
      `max-port=${minPort + 199}`,
      "lt-cred-mech",
      `user=${user}:${password}`,
      "realm=mlstream.test",
      "fingerprint",
      "no-cli",
      "no-tls",
      "no-dtls",
      "allow-loopback-peers",
      "no-multicast-peers",
      `pidfile=${join(dir.path, "turn.pid")}`,
      `log-file=${logFile}`,
      "simple-log",
      "verbose",
      "",
    ].join("\n"),
  );
  const proc = Bun.spawn([TURNSERVER, "-c", config, "--no-stdout-log"], { stdout: "ignore", stderr: "pipe" });
  const log = () => (existsSync(logFile) ? readFileSync(logFile, "utf8") : "");
  const end = Date.now() + 10_000;
  // coturn logs its listener once the UDP socket is bound.
  while (!/listener opened on\s*:\s*127\.0\.0\.1:\d+|IPv4. UDP listener opened/i.test(log())) {
    if (proc.exitCode !== null || Date.now() > end) {
      proc.kill("SIGKILL");
      const stderr = await new Response(proc.stderr as ReadableStream).text();
      throw new Error(`turnserver did not start:\n${stderr}\n${log()}`);
    }
    await Bun.sleep(50);
  }
  return {
    port,
    user,
    password,
    url: `turn:${user}:${password}@127.0.0.1:${port}`,
    relayPorts: { min: minPort, max: minPort + 199 },
    allocations: () => (log().match(/ALLOCATE processed, success/g) ?? []).length,
    log,
    async stop() {
      proc.kill("SIGTERM");
      const exited = await Promise.race([proc.exited, Bun.sleep(3000).then(() => undefined)]);
      if (exited === undefined) proc.kill("SIGKILL");
      await proc.exited;
      dir.cleanup();
    },
  };
}
