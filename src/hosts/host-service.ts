/**
 * Hosts as the user manages them: added by address, paired with a client identity, queried for
 * apps. Joins the store (what we know and the keys we hold) with the GameStream client (what the
 * host says now). Used by the CLI and the server alike.
 *
 * Identities: one shared client identity by default; a streamer may ask for its own (Wolf tells
 * clients apart by certificate, so separate host sessions need separate identities). Each
 * (host, identity) pair is paired separately and pins the host certificate it saw.
 */
import { randomBytes } from "node:crypto";
import { logger } from "../core/log.ts";
import { SHARED_IDENTITY_ID, type HostRecord, type Store } from "../core/store.ts";
import type { App, AppAsset } from "../moonlight/http/apps.ts";
import { createClientIdentity, type ClientIdentity } from "../moonlight/http/identity.ts";
import { DEFAULT_HTTP_PORT, formatHostAddress, parseHostAddress } from "../moonlight/http/host-address.ts";
import { NotPairedError } from "../moonlight/errors.ts";
import { NvHttpClient } from "../moonlight/http/nvhttp.ts";
import type { PairOptions } from "../moonlight/http/pairing.ts";
import type { ServerInfo } from "../moonlight/http/serverinfo.ts";

const log = logger("hosts");

export class HostNotFoundError extends Error {
  override name = "HostNotFoundError";
  constructor(ref: string) {
    super(`no host '${ref}' (see 'mlstream hosts ls')`);
  }
}

export class HostNotPairedError extends Error {
  override name = "HostNotPairedError";
  constructor(host: HostRecord, identityId: string) {
    super(`host ${describeHost(host)} is not paired${identityId === SHARED_IDENTITY_ID ? "" : ` for identity '${identityId}'`} (run 'mlstream pair ${formatHostAddress({ host: host.address, port: host.httpPort })}')`);
  }
}

export interface HostStatus {
  host: HostRecord;
  /**
   * Identities paired with this host: those we hold a pairing for, less those the host refuses
   * (when it answers; offline, what we hold).
   */
  pairedIdentities: string[];
  /** Identities we hold a pairing for that the host no longer accepts (removed in its UI, say). */
  unpairedByHost: string[];
  /** Live answer, or why there is none. */
  online: boolean;
  serverInfo?: ServerInfo;
  error?: string;
}

export function describeHost(host: HostRecord): string {
  const endpoint = formatHostAddress({ host: host.address, port: host.httpPort });
  return host.name ? `${host.name} (${endpoint})` : endpoint;
}

export class HostService {
  readonly #store: Store;

  constructor(store: Store) {
    this.#store = store;
  }

  /** The client identity `id`, created (RSA-2048, self-signed) on first use. */
  identity(id: string = SHARED_IDENTITY_ID): ClientIdentity {
    return this.#store.ensureIdentity(id, () => {
      log.debug(`creating client identity '${id}'`);
      return createClientIdentity();
    });
  }

  list(): HostRecord[] {
    return this.#store.listHosts();
  }

  get(ref: string): HostRecord {
    const host = this.#store.findHost(ref);
    if (!host) throw new HostNotFoundError(ref);
    return host;
  }

  /**
   * Adds a host by `address[:port]` after asking it who it is (so a typo fails now, not at pairing).
   */
  async add(addressText: string, options: { signal?: AbortSignal } = {}): Promise<{ host: HostRecord; serverInfo: ServerInfo }> {
    const address = parseHostAddress(addressText);
    const httpPort = address.port ?? DEFAULT_HTTP_PORT;
    const client = new NvHttpClient({ address: address.host, httpPort, identity: this.identity() });
    const serverInfo = await client.serverInfo(options);
    const id = (serverInfo.uniqueId.replace(/[^0-9a-zA-Z]/g, "").slice(0, 8) || randomBytes(4).toString("hex")).toLowerCase();
    const taken = new Set(this.#store.listHosts().map((h) => h.id));
    let unique = id;
    for (let n = 2; taken.has(unique); n++) unique = `${id}-${n}`;
    const host = this.#store.addHost({
      id: unique,
      address: address.host,
      httpPort,
      name: serverInfo.hostname,
      uuid: serverInfo.uniqueId,
    });
    this.#store.updateHost(host.id, { lastSeenAt: Date.now() });
    return { host: this.get(host.id), serverInfo };
  }

  remove(ref: string): HostRecord {
    const host = this.get(ref);
    this.#store.removeHost(host.id);
    return host;
  }

  /** A client for `host` with `identityId`'s keys and, when paired, the pinned host certificate. */
  client(host: HostRecord, identityId: string = SHARED_IDENTITY_ID): NvHttpClient {
    const pairing = this.#store.getPairing(host.id, identityId);
    return new NvHttpClient({
      address: host.address,
      httpPort: host.httpPort,
      identity: this.identity(identityId),
      ...(pairing ? { serverCertPem: pairing.serverCertPem } : {}),
    });
  }

  /** A client that must be paired (HTTPS calls need the pinned certificate). */
  pairedClient(host: HostRecord, identityId: string = SHARED_IDENTITY_ID): NvHttpClient {
    if (!this.#store.getPairing(host.id, identityId)) throw new HostNotPairedError(host, identityId);
    return this.client(host, identityId);
  }

  async pair(ref: string, options: PairOptions & { identityId?: string } = {}): Promise<{ host: HostRecord; serverInfo: ServerInfo }> {
    const host = this.get(ref);
    const identityId = options.identityId ?? SHARED_IDENTITY_ID;
    const client = this.client(host, identityId);
    const result = await client.pair(options);
    this.#store.putPairing({ hostId: host.id, identityId, serverCertPem: result.serverCertPem, pairedAt: Date.now() });
    this.#store.updateHost(host.id, {
      lastSeenAt: Date.now(),
      name: result.serverInfo.hostname,
      uuid: result.serverInfo.uniqueId,
    });
    return { host: this.get(host.id), serverInfo: result.serverInfo };
  }

  /**
   * Forgets the pairing. Tells the host too where it supports /unpair (Sunshine and Wolf do not:
   * `hostForgot` is false and the user removes the client in the host's own UI).
   */
  async unpair(ref: string, identityId: string = SHARED_IDENTITY_ID): Promise<{ host: HostRecord; hostForgot: boolean; wasPaired: boolean }> {
    const host = this.get(ref);
    const wasPaired = this.#store.getPairing(host.id, identityId) !== undefined;
    let hostForgot = false;
    try {
      hostForgot = await this.client(host, identityId).unpair();
    } catch (err) {
      log.warn(`${describeHost(host)} did not take the unpair request: ${(err as Error).message}`);
    }
    this.#store.removePairing(host.id, identityId);
    return { host, hostForgot, wasPaired };
  }

  /** Live status of every host, asked in parallel with a short timeout. */
  async statuses(options: { timeoutMs?: number } = {}): Promise<HostStatus[]> {
    return Promise.all(this.list().map((host) => this.status(host, options)));
  }

  /**
   * Live status of one host (its serverinfo over HTTP), never throwing: offline says why. Each
   * pairing we hold is checked with the host too (HTTPS with that identity), so that "paired"
   * is what the host says, not only what we remember.
   */
  async status(host: HostRecord, options: { timeoutMs?: number } = {}): Promise<HostStatus> {
    const timeoutMs = options.timeoutMs ?? 2000;
    const stored = this.#store.listPairings(host.id);
    let serverInfo: ServerInfo;
    try {
      const client = new NvHttpClient({ address: host.address, httpPort: host.httpPort, identity: this.identity(), timeoutMs });
      serverInfo = await client.serverInfo();
    } catch (err) {
      return { host, pairedIdentities: stored.map((p) => p.identityId), unpairedByHost: [], online: false, error: (err as Error).message };
    }
    this.#noteSeen(host);
    const refused = await Promise.all(stored.map(async (pairing) => ((await this.#hostRefuses(host, pairing.identityId, pairing.serverCertPem, timeoutMs)) ? pairing.identityId : undefined)));
    const unpairedByHost = refused.filter((id): id is string => id !== undefined);
    const pairedIdentities = stored.map((p) => p.identityId).filter((id) => !unpairedByHost.includes(id));
    return { host, pairedIdentities, unpairedByHost, online: true, serverInfo };
  }

  /** True only when the host answers that it does not know this identity: not when it cannot be asked. */
  async #hostRefuses(host: HostRecord, identityId: string, serverCertPem: string, timeoutMs: number): Promise<boolean> {
    const client = new NvHttpClient({ address: host.address, httpPort: host.httpPort, identity: this.identity(identityId), serverCertPem, timeoutMs });
    try {
      await client.serverInfo({ https: true });
      return false;
    } catch (err) {
      return err instanceof NotPairedError;
    }
  }

  /** Best effort: a status read must work on a full disk too. */
  #noteSeen(host: HostRecord): void {
    try {
      this.#store.updateHost(host.id, { lastSeenAt: Date.now() });
    } catch (err) {
      log.warn(`${describeHost(host)}: ${(err as Error).message}`);
    }
  }

  async apps(ref: string, identityId: string = SHARED_IDENTITY_ID): Promise<App[]> {
    return this.pairedClient(this.get(ref), identityId).appList();
  }

  async appAsset(ref: string, appId: number, identityId: string = SHARED_IDENTITY_ID): Promise<AppAsset> {
    return this.pairedClient(this.get(ref), identityId).appAsset(appId);
  }
}
