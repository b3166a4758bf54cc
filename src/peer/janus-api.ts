/**
 * A client of Janus's HTTP API (janus.transport.http) for one handle on the streaming plugin: what
 * mlstream needs to publish a stream into Janus — create a session, attach
 * `janus.plugin.streaming`, send it synchronous requests (create, destroy, info), keep the session
 * alive. Janus's API is JSON over POST:
 *
 *   POST <url>                    {"janus":"create"}                        → data.id = session
 *   POST <url>/<session>          {"janus":"attach","plugin":…}             → data.id = handle
 *   POST <url>/<session>/<handle> {"janus":"message","body":{request,…}}   → plugindata.data
 *   POST <url>/<session>          {"janus":"keepalive"}                     → ack
 *   POST <url>/<session>          {"janus":"destroy"}
 *
 * Every request carries a fresh `transaction`. Errors come back as `{"janus":"error","error":
 * {code, reason}}`, or, from the plugin, as `plugindata.data.error_code / error`. A session not kept
 * alive for `session_timeout` (60 s by default) is destroyed by Janus, as is everything on a restart.
 */
import { randomBytes } from "node:crypto";

const STREAMING_PLUGIN = "janus.plugin.streaming";
const REQUEST_TIMEOUT_MS = 5000;

export class JanusError extends Error {
  override name = "JanusError";
  /** Janus's error code (e.g. 458 no such session, 456 the plugin's own); undefined when unreachable. */
  readonly code: number | undefined;
  constructor(message: string, code?: number) {
    super(message);
    this.code = code;
  }
}

interface JanusReply {
  janus: string;
  data?: { id?: number };
  error?: { code: number; reason: string };
  plugindata?: { plugin: string; data: Record<string, unknown> & { error_code?: number; error?: string } };
}

async function post(url: string, body: Record<string, unknown>): Promise<JanusReply> {
  let response: Response;
  try {
    response = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ ...body, transaction: randomBytes(6).toString("hex") }),
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
  } catch (error) {
    throw new JanusError(`Janus at ${url} is unreachable: ${(error as Error).message}`);
  }
  let reply: JanusReply;
  try {
    reply = (await response.json()) as JanusReply;
  } catch {
    throw new JanusError(`Janus at ${url} answered ${response.status} without JSON`);
  }
  if (reply.janus === "error") throw new JanusError(`Janus: ${reply.error?.reason ?? "error"}`, reply.error?.code);
  return reply;
}

/** A session with one handle attached to the streaming plugin. */
export class JanusStreamingHandle {
  readonly url: string;
  readonly sessionId: number;
  readonly handleId: number;
  #destroyed = false;

  private constructor(url: string, sessionId: number, handleId: number) {
    this.url = url;
    this.sessionId = sessionId;
    this.handleId = handleId;
  }

  static async open(url: string): Promise<JanusStreamingHandle> {
    const base = url.replace(/\/$/, "");
    const session = (await post(base, { janus: "create" })).data?.id;
    if (session === undefined) throw new JanusError("Janus created no session");
    const handle = (await post(`${base}/${session}`, { janus: "attach", plugin: STREAMING_PLUGIN })).data?.id;
    if (handle === undefined) throw new JanusError("Janus attached no handle");
    return new JanusStreamingHandle(base, session, handle);
  }

  /** A synchronous streaming-plugin request; returns the plugin's data, throws its error. */
  async request(body: Record<string, unknown>): Promise<Record<string, unknown>> {
    const reply = await post(`${this.url}/${this.sessionId}/${this.handleId}`, { janus: "message", body });
    const data = reply.plugindata?.data;
    if (!data) throw new JanusError(`Janus answered '${reply.janus}' to ${String(body.request)} without plugin data`);
    if (data.error_code !== undefined || data.error !== undefined) throw new JanusError(`Janus streaming: ${data.error ?? "error"}`, data.error_code);
    return data;
  }

  async keepalive(): Promise<void> {
    await post(`${this.url}/${this.sessionId}`, { janus: "keepalive" });
  }

  /** Ends the session (and with it the handle). Idempotent; a Janus that is gone is not an error. */
  async destroy(): Promise<void> {
    if (this.#destroyed) return;
    this.#destroyed = true;
    await post(`${this.url}/${this.sessionId}`, { janus: "destroy" }).catch(() => undefined);
  }
}
