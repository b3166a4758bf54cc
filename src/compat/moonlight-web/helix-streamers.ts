/**
 * Helix's multi mode on `POST/GET /api/streamers[/{id}]` (docs/helix.md §2.1–2.2): the same paths
 * as our own API, answered in Helix's shapes for the requests Helix makes — those that carry
 * Helix's credentials in `Authorization` (Helix always sends them; our UI and CLI use their own
 * tokens). Our own handler does the work; this only pairs the client identity first and reshapes.
 *
 * A Helix streamer is one of our streamers with Helix's `streamer_id` as its id (Helix's ids,
 * `agent-{sessionID}`, fit our id pattern), so both lists name it alike and it survives restarts.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import type { HostService } from "../../hosts/host-service.ts";
import { tokenOf } from "../../server/auth.ts";
import { HttpError } from "../../server/http-error.ts";
import { hostHttpError } from "../../server/routes/hosts.ts";
import type { StreamersProtocol } from "../../server/routes/streamers.ts";
import { normalizeStreamerRequest, type CreateStreamerBody } from "../../server/streamer-request.ts";
import type { StreamerSupervisor, StreamerView } from "../../server/streamer-supervisor.ts";
import { HELIX_SIDECAR_HOSTS } from "./helix-config.ts";
import { identityFor, type HelixHosts } from "./helix-hosts.ts";

/** The fork's `StreamerInfo` (M `ab`). */
export interface HelixStreamerInfo {
  streamer_id: string;
  status: "active" | "stopped";
  moonlight_connected: boolean;
  connected_peers: number;
  width: number;
  height: number;
  fps: number;
  created_at: string;
  peers: { peer_id: string; connected_at: string }[];
}

const digest = (text: string) => createHash("sha256").update(text).digest();

/** Whether a request is Helix's: its credentials in the Authorization header (constant time), or, without credentials configured, the sidecar's Host name. */
export function helixRequestMatcher(credentials: string | undefined): (request: Request) => boolean {
  const expected = credentials ? digest(credentials) : undefined;
  return (request) => {
    if (!expected) return HELIX_SIDECAR_HOSTS.some((name) => (request.headers.get("host") ?? "").toLowerCase().split(":")[0] === name);
    const token = tokenOf(request, false);
    return token !== undefined && timingSafeEqual(digest(token), expected);
  };
}

export function helixStreamerInfo(view: StreamerView): HelixStreamerInfo {
  return {
    streamer_id: view.id,
    status: view.status === "stopped" || view.status === "failed" ? "stopped" : "active",
    moonlight_connected: view.host_connected,
    connected_peers: view.viewers.length,
    width: view.stream?.width ?? view.settings.width,
    height: view.stream?.height ?? view.settings.height,
    fps: view.settings.fps,
    created_at: view.created_at,
    peers: view.viewers.map((viewer) => ({ peer_id: viewer.id, connected_at: viewer.connected_at })),
  };
}

export class HelixStreamers implements StreamersProtocol {
  readonly claims: (request: Request) => boolean;
  readonly #supervisor: StreamerSupervisor;
  readonly #hosts: HostService;
  readonly #helixHosts: HelixHosts;
  readonly #idleTimeoutS: number;

  constructor(options: { supervisor: StreamerSupervisor; hosts: HostService; helixHosts: HelixHosts; credentials: string | undefined; idleTimeoutS: number }) {
    this.claims = helixRequestMatcher(options.credentials);
    this.#supervisor = options.supervisor;
    this.#hosts = options.hosts;
    this.#helixHosts = options.helixHosts;
    this.#idleTimeoutS = options.idleTimeoutS;
  }

  /**
   * `CreateStreamerRequest` → 200 + StreamerInfo (Helix accepts nothing else as success). The
   * same request again is 200 again; other settings under the same id 409, as the fork.
   */
  async create(body: CreateStreamerBody): Promise<HelixStreamerInfo> {
    if (body.streamer_id === undefined) throw new HttpError(422, "invalid_request", "streamer_id is required");
    const hostIndex = Number(body.host_id ?? body.host);
    const hostId = Number.isInteger(hostIndex) ? this.#helixHosts.hostId(hostIndex) : undefined;
    if (hostId === undefined) throw new HttpError(404, "host_not_found", `no host ${String(body.host_id ?? body.host)} in data.json`);
    const identityId = identityFor(body.client_unique_id ?? null);
    try {
      await this.#helixHosts.ensurePaired(hostId, identityId);
    } catch (error) {
      // The fork: 400 when the host is not paired and cannot be, 500 when pairing itself failed.
      const paired = this.#helixHosts.isPaired(hostId, identityId);
      throw new HttpError(paired ? 500 : 400, paired ? "pairing_failed" : "host_not_paired", `pairing ${identityId}: ${(error as Error).message}`);
    }
    const request = normalizeStreamerRequest({ ...body, host_id: hostId, identity: identityId, bitrate: Math.max(500, body.bitrate ?? 10_000) }, { idleTimeoutS: this.#idleTimeoutS });
    try {
      const app = await this.#hosts.pairedClient(this.#hosts.get(hostId), identityId).findApp(request.app);
      const { view } = this.#supervisor.create(request.id, { hostId, appId: app.id, appTitle: app.title, identityId, settings: request.settings, idleTimeoutS: request.idleTimeoutS });
      return helixStreamerInfo(view);
    } catch (error) {
      throw hostHttpError(error);
    }
  }

  list(): { streamers: HelixStreamerInfo[] } {
    return { streamers: this.#supervisor.list().map((view) => helixStreamerInfo(view)) };
  }

  get(id: string): HelixStreamerInfo {
    return helixStreamerInfo(this.#supervisor.get(id));
  }

  /**
   * The streamer a Helix peer id names: itself, else the longest existing streamer id that is a
   * prefix of it followed by `-` (Helix's frontend opens `agent-{session}-{instance}` while its
   * backend created `agent-{session}`; docs/helix.md §2.3). Nothing is ever created here.
   */
  resolvePeerTarget(peerId: string): string | undefined {
    const ids = this.#supervisor.list().map((view) => view.id);
    if (ids.includes(peerId)) return peerId;
    let best: string | undefined;
    for (const id of ids) if (peerId.startsWith(`${id}-`) && (best === undefined || id.length > best.length)) best = id;
    return best;
  }
}
