/**
 * The simulated host's audio stream for one session (§6): waits for the client's first ping on the
 * audio port, then sends one Opus packet of the loop every packet duration (paced on the
 * performance.now() clock), through the shared AudioPacketizer: RTP PT 97 from sequence 0,
 * millisecond timestamps, AES-CBC when the client asked for audio encryption, RS(4+2) FEC packets
 * after every block of four equal-size payloads.
 *
 * The loop is stereo. A client that asked for 5.1 / 7.1 set its Opus decoder up with the
 * multistream layout of our DESCRIBE reply (`layout`); it gets multistream packets of that layout,
 * the loop on stream 0 and silence on the other streams (OpusLoop).
 */
import { EventEmitter } from "node:events";
import { logger } from "../core/log.ts";
import type { AudioCipher } from "../moonlight/audio/audio-packet.ts";
import { AudioPacketizer } from "../moonlight/audio/audio-packetizer.ts";
import { OpusLoop } from "./media-source.ts";
import type { OpusStreamCounts } from "./opus-multistream.ts";
import { Pacer } from "./pacer.ts";
import type { SimUdpPort, UdpEndpoint } from "./udp-port.ts";

const log = logger("sim-audio");

export interface SimAudioStats {
  /** Opus packets sent (data packets, PT 97). */
  packetsSent: number;
  /** Data + FEC datagrams. */
  datagramsSent: number;
  bytesSent: number;
}

export function createAudioStats(): SimAudioStats {
  return { packetsSent: 0, datagramsSent: 0, bytesSent: 0 };
}

export interface AudioSenderOptions {
  port: SimUdpPort;
  packetDurationMs: number;
  /** Opus streams / coupled streams the client decodes (§6.5). Default stereo: 1 / 1. */
  layout?: OpusStreamCounts;
  cipher?: AudioCipher;
  stats: SimAudioStats;
}

export interface AudioSenderEvents {
  started: [destination: UdpEndpoint];
  /** One Opus packet went out (plaintext, before encryption). */
  packet: [packet: { sequenceNumber: number; opus: Uint8Array }];
}

export class AudioSender extends EventEmitter<AudioSenderEvents> {
  readonly #port: SimUdpPort;
  readonly #loop: OpusLoop;
  readonly #packetizer: AudioPacketizer;
  readonly #pacer: Pacer;
  readonly #stats: SimAudioStats;
  #destination: UdpEndpoint | undefined;
  #closed = false;

  constructor(options: AudioSenderOptions) {
    super();
    this.#port = options.port;
    this.#stats = options.stats;
    this.#loop = new OpusLoop(options.packetDurationMs, options.layout);
    this.#packetizer = new AudioPacketizer({
      packetDurationMs: options.packetDurationMs,
      ...(options.cipher ? { cipher: options.cipher } : {}),
    });
    this.#pacer = new Pacer({ intervalMs: options.packetDurationMs, tick: () => this.#sendNext() });
  }

  /** The Opus streams / coupled streams of every packet. */
  get layout(): OpusStreamCounts {
    return this.#loop.layout;
  }

  get destination(): UdpEndpoint | undefined {
    return this.#destination;
  }

  get started(): boolean {
    return this.#destination !== undefined;
  }

  handlePing(from: UdpEndpoint): void {
    if (this.#closed) return;
    const first = this.#destination === undefined;
    this.#destination = { address: from.address, port: from.port };
    if (first) {
      log.debug(`audio: first ping from ${from.address}:${from.port}, streaming`);
      this.emit("started", this.#destination);
      this.#pacer.start();
    }
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#pacer.stop();
  }

  #sendNext(): void {
    const destination = this.#destination;
    if (this.#closed || destination === undefined) return;
    const sequenceNumber = this.#packetizer.nextSequenceNumber;
    const opus = this.#loop.next();
    const datagrams = this.#packetizer.packetize(opus);
    for (const datagram of datagrams) {
      this.#port.send(datagram, destination);
      this.#stats.bytesSent += datagram.length;
    }
    this.#stats.packetsSent++;
    this.#stats.datagramsSent += datagrams.length;
    if (this.listenerCount("packet") > 0) {
      try {
        this.emit("packet", { sequenceNumber, opus });
      } catch (error) {
        log.error("audio packet listener threw", error);
      }
    }
  }
}
