/**
 * `serve --compat moonlight-web` in one piece (docs/helix.md): Helix's single-mode routes, and its
 * multi-mode answers on our own `/api/streamers` paths and viewer socket, over one set of Helix
 * hosts and client identities. app.ts hands the two multi-mode parts to our routes as hooks.
 */
import type { Store } from "../../core/store.ts";
import type { HostService } from "../../hosts/host-service.ts";
import type { Auth } from "../../server/auth.ts";
import type { StreamerSupervisor } from "../../server/streamer-supervisor.ts";
import type { HelixSettings } from "./helix-config.ts";
import { HelixHosts } from "./helix-hosts.ts";
import { HelixPeerSocket } from "./helix-peer-socket.ts";
import { HelixStreamers } from "./helix-streamers.ts";
import { moonlightWebRoutes } from "./routes.ts";

export function moonlightWebCompat(options: { auth: Auth; store: Store; hosts: HostService; supervisor: StreamerSupervisor; helix: HelixSettings; idleTimeoutS: number }) {
  const helixHosts = new HelixHosts({ store: options.store, hosts: options.hosts, helixHosts: options.helix.hosts, pin: options.helix.pairingPin });
  const streamers = new HelixStreamers({ supervisor: options.supervisor, hosts: options.hosts, helixHosts, credentials: options.helix.credentials, idleTimeoutS: options.idleTimeoutS });
  const peerSocket = new HelixPeerSocket({
    claims: streamers.claims,
    supervisor: options.supervisor,
    resolve: (peerId) => streamers.resolvePeerTarget(peerId),
    iceServers: options.helix.browserIceServers,
  });
  return { routes: moonlightWebRoutes({ ...options, helixHosts }), streamers, peerSocket };
}
