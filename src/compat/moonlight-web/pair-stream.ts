/**
 * `POST /api/pair` as the fork answers it (docs/helix.md §1.1): 404 unknown host, 304 already
 * paired, else 200 `application/x-ndjson` streamed — `{"Pin":"1234"}` first (Helix reads only
 * that), then `\n{"Paired":{DetailedHost}}` or `"PairError"` when pairing ends.
 */
import { randomInt } from "node:crypto";
import { SHARED_IDENTITY_ID } from "../../core/store.ts";
import type { HostService } from "../../hosts/host-service.ts";
import type { HelixHosts } from "./helix-hosts.ts";

export async function pairResponse(helixHosts: HelixHosts, hosts: HostService, hostIndex: number): Promise<Response> {
  const hostId = helixHosts.hostId(hostIndex);
  if (hostId === undefined) return new Response(null, { status: 404 });
  if (helixHosts.isPaired(hostId, SHARED_IDENTITY_ID)) return new Response(null, { status: 304 });
  const pin = helixHosts.pin ?? String(randomInt(0, 10_000)).padStart(4, "0");
  const encoder = new TextEncoder();
  const body = new ReadableStream<Uint8Array>({
    async start(controller) {
      controller.enqueue(encoder.encode(JSON.stringify({ Pin: pin })));
      let last: unknown = "PairError";
      try {
        const { host, serverInfo } = await hosts.pair(hostId, { pin, identityId: SHARED_IDENTITY_ID });
        last = {
          Paired: {
            host_id: hostIndex,
            name: serverInfo.hostname,
            paired: "Paired",
            server_state: serverInfo.busy ? "Busy" : "Free",
            address: host.address,
            http_port: host.httpPort,
            https_port: serverInfo.httpsPort,
            external_port: serverInfo.externalPort ?? host.httpPort,
            version: serverInfo.appVersion.text,
            gfe_version: serverInfo.gfeVersion ?? "",
            unique_id: serverInfo.uniqueId,
            mac: serverInfo.mac ?? null,
            local_ip: serverInfo.localIp ?? host.address,
            current_game: serverInfo.currentGame,
            max_luma_pixels_hevc: serverInfo.maxLumaPixelsHevc,
            server_codec_mode_support: serverInfo.codecModeSupport,
          },
        };
      } catch {
        last = "PairError";
      }
      controller.enqueue(encoder.encode(`\n${JSON.stringify(last)}`));
      controller.close();
    },
  });
  return new Response(body, { status: 200, headers: { "content-type": "application/x-ndjson" } });
}
