/**
 * Media via the SFU (docs/scale.md): when the server says so in its hello, the page takes the
 * picture and sound from a Janus streaming mountpoint instead of from mlstream, while its input
 * still goes to mlstream over the peer socket.
 *
 * Janus's HTTP API from the browser (it answers CORS): create a session, attach the streaming
 * plugin, `watch` the mountpoint, read Janus's offer from the session's long poll, answer with every
 * candidate in the SDP (no trickle), `start`. The long poll, kept running, also keeps the session
 * alive; close() destroys it.
 */

const PLUGIN = "janus.plugin.streaming";
/** Janus holds a long poll this long at most before answering "keepalive". */
const POLL_TIMEOUT_MS = 35_000;

export class JanusMediaError extends Error {
  override name = "JanusMediaError";
}

interface JanusReply {
  janus: string;
  data?: { id: number };
  error?: { code: number; reason: string };
  jsep?: { type: RTCSdpType; sdp: string };
  plugindata?: { data?: { error?: string; streaming?: string } };
}

export interface JanusMediaOptions {
  /** Janus's HTTP API as this browser reaches it. */
  url: string;
  mountpoint: number;
  iceServers: RTCIceServer[];
  /** Takes the peer connection (its tracks feed the page's video element, its stats the overlay). */
  usePeerConnection(pc: RTCPeerConnection): void;
  /** The session is gone (Janus restarted, or is unreachable): the caller joins again. */
  onLost(reason: string): void;
}

export class JanusMedia {
  readonly #options: JanusMediaOptions;
  readonly #base: string;
  #session: number | undefined;
  #closed = false;

  constructor(options: JanusMediaOptions) {
    this.#options = options;
    this.#base = options.url.replace(/\/$/, "");
  }

  /** Watches the mountpoint; resolves once the answer is sent (media follows over ICE/DTLS). */
  async start(): Promise<void> {
    const session = (await this.#post(this.#base, { janus: "create" })).data?.id;
    if (session === undefined) throw new JanusMediaError("Janus made no session");
    this.#session = session;
    const handle = (await this.#post(`${this.#base}/${session}`, { janus: "attach", plugin: PLUGIN })).data?.id;
    if (handle === undefined) throw new JanusMediaError("Janus attached no handle");
    const watched = await this.#post(`${this.#base}/${session}/${handle}`, { janus: "message", body: { request: "watch", id: this.#options.mountpoint } });
    if (watched.plugindata?.data?.error) throw new JanusMediaError(`Janus: ${watched.plugindata.data.error}`);
    const offer = watched.jsep ?? (await this.#nextOffer());
    const pc = new RTCPeerConnection({ iceServers: this.#options.iceServers, bundlePolicy: "max-bundle" });
    this.#options.usePeerConnection(pc);
    await pc.setRemoteDescription(offer);
    await pc.setLocalDescription(await pc.createAnswer());
    if (pc.iceGatheringState !== "complete") {
      await new Promise<void>((resolve) => {
        const done = () => pc.iceGatheringState === "complete" && resolve();
        pc.addEventListener("icegatheringstatechange", done);
        // A gatherer that never finishes (an unreachable STUN server) must not hold the picture.
        setTimeout(resolve, 3000);
      });
    }
    if (this.#closed) return;
    await this.#post(`${this.#base}/${session}/${handle}`, { janus: "message", body: { request: "start" }, jsep: { type: "answer", sdp: pc.localDescription!.sdp } });
    void this.#poll();
  }

  /** Ends the session on Janus (the peer connection belongs to the caller). Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#session !== undefined) void this.#post(`${this.#base}/${this.#session}`, { janus: "destroy" }).catch(() => {});
  }

  /** Janus's offer arrives as an event on the session's long poll. */
  async #nextOffer(): Promise<{ type: RTCSdpType; sdp: string }> {
    for (let i = 0; i < 10 && !this.#closed; i++) {
      const event = await this.#get();
      if (event.jsep) return event.jsep;
    }
    throw new JanusMediaError("Janus sent no offer");
  }

  /** Keeps reading events (the session stays alive while someone asks); notices when it is gone. */
  async #poll(): Promise<void> {
    let failures = 0;
    while (!this.#closed) {
      let lost: string | undefined;
      try {
        const event = await this.#get();
        failures = 0;
        if (event.janus === "error") lost = `Janus: ${event.error?.reason ?? "session gone"}`;
        else if (event.janus === "hangup") lost = "Janus hung up";
      } catch (error) {
        if (++failures >= 2) lost = `Janus unreachable (${(error as Error).message})`;
        else if (!this.#closed) await new Promise((resolve) => setTimeout(resolve, 1000));
      }
      if (lost && !this.#closed) {
        this.#closed = true;
        this.#options.onLost(lost);
      }
    }
  }

  async #get(): Promise<JanusReply> {
    const response = await fetch(`${this.#base}/${this.#session}?maxev=1&rid=${Date.now()}`, { signal: AbortSignal.timeout(POLL_TIMEOUT_MS + 5000) });
    return (await response.json()) as JanusReply;
  }

  async #post(url: string, body: Record<string, unknown>): Promise<JanusReply> {
    const response = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ ...body, transaction: Math.random().toString(36).slice(2) }),
    });
    const reply = (await response.json()) as JanusReply;
    if (reply.janus === "error") throw new JanusMediaError(`Janus: ${reply.error?.reason ?? "error"}`);
    return reply;
  }
}
