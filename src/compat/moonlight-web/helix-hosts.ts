/**
 * Helix's hosts and client identities over our store: host i of data.json is our host `"i"`
 * (seeded without asking it, as Helix pre-seeds it), and each `client_unique_id` is one of our
 * client identities, paired once with the shared PIN and reused (docs/helix.md §1.1).
 */
import { createHash } from "node:crypto";
import { SHARED_IDENTITY_ID, type Store } from "../../core/store.ts";
import type { HostService } from "../../hosts/host-service.ts";
import type { HelixHost } from "./helix-config.ts";

const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** Our id for a Helix id: itself when it fits our pattern, else a digest of it. */
export function ourIdFor(prefix: string, helixId: string): string {
  const candidate = `${prefix}${helixId}`;
  return ID_PATTERN.test(candidate) ? candidate : `${prefix}${createHash("sha256").update(helixId).digest("hex").slice(0, 40)}`;
}

export function identityFor(clientUniqueId: string | null): string {
  return clientUniqueId === null ? SHARED_IDENTITY_ID : ourIdFor("mlw-", clientUniqueId);
}

export class HelixHosts {
  readonly #store: Store;
  readonly #hosts: HostService;
  readonly #helixHosts: HelixHost[];
  readonly #pin: string | undefined;
  /** Pairings under way, so that two sockets of one client pair once. */
  readonly #pairing = new Map<string, Promise<void>>();

  constructor(options: { store: Store; hosts: HostService; helixHosts: HelixHost[]; pin: string | undefined }) {
    this.#store = options.store;
    this.#hosts = options.hosts;
    this.#helixHosts = options.helixHosts;
    this.#pin = options.pin;
  }

  get pin(): string | undefined {
    return this.#pin;
  }

  /** Our host id for Helix's host index, seeding it from data.json; undefined when there is none. */
  hostId(index: number): string | undefined {
    const id = String(index);
    if (this.#store.getHost(id)) return id;
    const seed = this.#helixHosts[index];
    if (!seed) return undefined;
    this.#store.addHost({ id, address: seed.address, httpPort: seed.httpPort, name: seed.name ?? null, uuid: null });
    return id;
  }

  isPaired(hostId: string, identityId: string): boolean {
    return this.#store.getPairing(hostId, identityId) !== undefined;
  }

  /** Pairs `identityId` with the host using the shared PIN, once; reused afterwards. */
  async ensurePaired(hostId: string, identityId: string): Promise<void> {
    if (this.isPaired(hostId, identityId)) return;
    if (!this.#pin) throw new Error("MOONLIGHT_INTERNAL_PAIRING_PIN is not set (4 digits shared with the host)");
    const key = `${hostId}\n${identityId}`;
    let pending = this.#pairing.get(key);
    if (!pending) {
      pending = this.#hosts.pair(hostId, { pin: this.#pin, identityId }).then(() => undefined);
      this.#pairing.set(key, pending);
      void pending.finally(() => this.#pairing.delete(key)).catch(() => {});
    }
    await pending;
  }

  /** Client identities that hold a pairing with some host (admin status). */
  pairedIdentities(): string[] {
    const ids = new Set<string>();
    for (const host of this.#store.listHosts()) for (const pairing of this.#store.listPairings(host.id)) ids.add(pairing.identityId);
    return [...ids];
  }
}
