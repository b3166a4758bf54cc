/**
 * The sender's handle on the receiver processes: spawns them (Bun IPC), routes each viewer's
 * signaling to the process that plays it, collects milestones, CPU marks and frame reports, and
 * kills the processes at the end (or when the benchmark is interrupted).
 */
import { resolve } from "node:path";
import type { Subprocess } from "bun";
import type { ServerSignal, ViewerSignal } from "../../../src/peer/signaling.ts";
import type { FromReceiver, ReceiverReport, ToReceiver } from "./protocol.ts";

const RECEIVER = resolve(import.meta.dir, "receiver.ts");
const live = new Set<Subprocess>();

/** Kills every receiver process still running (exit handlers call this). */
export function killAllReceivers(): void {
  for (const p of live) p.kill("SIGKILL");
  live.clear();
}

export interface Milestones {
  offer?: number;
  connected?: number;
  firstFrame?: number;
}

export class ReceiverPool {
  readonly milestones = new Map<string, Milestones>();
  readonly #procs: Subprocess[] = [];
  readonly #ready: Promise<void>[] = [];
  readonly #route = new Map<string, number>();
  readonly #onSignal = new Map<string, (m: ViewerSignal) => void>();
  readonly #pending = new Map<number, { left: number; replies: FromReceiver[]; done: (r: FromReceiver[]) => void }>();
  readonly #floorPorts = new Map<string, (port: number) => void>();
  #seq = 0;
  #next = 0;

  /** `bindAddress`: the address the receivers' ICE binds to (default 127.0.0.1). */
  constructor(count: number, options: { pliOnLoss: boolean; bindAddress?: string }) {
    for (let i = 0; i < count; i++) {
      let ready!: () => void;
      this.#ready.push(new Promise<void>((r) => (ready = r)));
      const proc = Bun.spawn({
        cmd: [process.execPath, RECEIVER, "--pli-on-loss", options.pliOnLoss ? "1" : "0", "--bind", options.bindAddress ?? "127.0.0.1"],
        stdin: "ignore",
        stdout: "inherit",
        stderr: "inherit",
        serialization: "json",
        ipc: (message) => this.#onMessage(message as FromReceiver, ready),
      });
      live.add(proc);
      this.#procs.push(proc);
    }
  }

  ready(): Promise<void> {
    return Promise.all(this.#ready).then(() => undefined);
  }

  /** Registers viewer `id` (assigned round-robin to a process); `onSignal` gets its replies. */
  attach(id: string, onSignal: (m: ViewerSignal) => void): (m: ServerSignal) => void {
    const proc = this.#next++ % this.#procs.length;
    this.#route.set(id, proc);
    this.#onSignal.set(id, onSignal);
    this.milestones.set(id, {});
    return (m) => this.#send(proc, { t: "signal", id, m });
  }

  /** Floor mode: viewer `id` (attached) receives on a UDP socket with `key`; resolves to its port. */
  openFloor(id: string, key: Uint8Array, suite: "cm" | "gcm"): Promise<number> {
    const proc = this.#route.get(id);
    if (proc === undefined) throw new Error(`viewer ${id} is not attached`);
    return new Promise((resolve) => {
      this.#floorPorts.set(id, resolve);
      this.#send(proc, { t: "floor", id, key: Buffer.from(key).toString("hex"), suite });
    });
  }

  detach(id: string): void {
    const proc = this.#route.get(id);
    if (proc !== undefined) this.#send(proc, { t: "close", id });
    this.#route.delete(id);
    this.#onSignal.delete(id);
  }

  /** CPU microseconds used so far by all receiver processes. */
  async cpuUs(): Promise<number> {
    const replies = await this.#ask((seq) => ({ t: "cpu", seq }));
    let us = 0;
    for (const r of replies) if (r.t === "cpu") us += r.userUs + r.systemUs;
    return us;
  }

  async report(from: number, to: number): Promise<ReceiverReport[]> {
    const replies = await this.#ask((seq) => ({ t: "report", seq, from, to }));
    return replies.flatMap((r) => (r.t === "report" ? r.viewers : []));
  }

  async close(): Promise<void> {
    for (let i = 0; i < this.#procs.length; i++) this.#send(i, { t: "exit" });
    await Promise.all(
      this.#procs.map(async (p) => {
        const timer = setTimeout(() => p.kill("SIGKILL"), 3000);
        await p.exited;
        clearTimeout(timer);
        live.delete(p);
      }),
    );
  }

  #send(proc: number, message: ToReceiver): void {
    this.#procs[proc]!.send(message);
  }

  #ask(make: (seq: number) => ToReceiver): Promise<FromReceiver[]> {
    const seq = ++this.#seq;
    return new Promise((done) => {
      this.#pending.set(seq, { left: this.#procs.length, replies: [], done });
      for (let i = 0; i < this.#procs.length; i++) this.#send(i, make(seq));
    });
  }

  #onMessage(message: FromReceiver, ready: () => void): void {
    switch (message.t) {
      case "ready":
        ready();
        return;
      case "signal":
        this.#onSignal.get(message.id)?.(message.m);
        return;
      case "milestone": {
        const m = this.milestones.get(message.id);
        if (!m) return;
        if (message.what === "offer") m.offer = message.at;
        else if (message.what === "connected") m.connected = message.at;
        else m.firstFrame = message.at;
        return;
      }
      case "floor-port":
        this.#floorPorts.get(message.id)?.(message.port);
        this.#floorPorts.delete(message.id);
        return;
      case "cpu":
      case "report": {
        const pending = this.#pending.get(message.seq);
        if (!pending) return;
        pending.replies.push(message);
        if (--pending.left === 0) {
          this.#pending.delete(message.seq);
          pending.done(pending.replies);
        }
        return;
      }
    }
  }
}
