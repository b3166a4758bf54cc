/**
 * Helix's moonlight-web config files as Helix writes them (docs/helix.md §3), with host 0 pointing
 * at a sim host on loopback. Returns the directory to pass as MLSTREAM_COMPAT_HELIX_DIR.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export function writeHelixConfig(parent: string, simHttpPort: number, config: Record<string, unknown> = {}): string {
  const dir = join(parent, "helix");
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "config.json"), JSON.stringify({ credentials: "{{MOONLIGHT_CREDENTIALS}}", webrtc_ice_servers: [], webrtc_network_types: ["udp4", "udp6"], ...config }));
  writeFileSync(join(dir, "data.json"), JSON.stringify({ hosts: [{ address: "127.0.0.1", http_port: simHttpPort, unique_id: null, cache: { name: "Helix (sim)", mac: "00:11:22:33:44:55" } }] }));
  return dir;
}
