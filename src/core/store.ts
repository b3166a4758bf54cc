/**
 * The state store: one SQLite database (bun:sqlite, WAL) in the data dir holding hosts, client
 * identities (certificate + private key), pairings (the host certificate pinned at pairing) and
 * streamers. The database file holds key material, so it and the data dir are private to the user
 * (0600 / 0700).
 *
 * Schema changes are appended to MIGRATIONS and applied in order; `PRAGMA user_version` records
 * how many have run. Never edit a migration that has shipped.
 */
import { Database } from "bun:sqlite";
import { chmodSync, closeSync, existsSync, mkdirSync, openSync } from "node:fs";
import { join } from "node:path";

export const STORE_FILE = "mlstream.db";

const MIGRATIONS: readonly string[] = [
  `CREATE TABLE identities (
     id          TEXT PRIMARY KEY,
     unique_id   TEXT NOT NULL,
     cert_pem    TEXT NOT NULL,
     key_pem     TEXT NOT NULL,
     created_at  INTEGER NOT NULL
   );
   CREATE TABLE hosts (
     id            TEXT PRIMARY KEY,
     address       TEXT NOT NULL,
     http_port     INTEGER NOT NULL,
     name          TEXT,
     uuid          TEXT,
     added_at      INTEGER NOT NULL,
     last_seen_at  INTEGER,
     UNIQUE (address, http_port)
   );
   CREATE TABLE pairings (
     host_id          TEXT NOT NULL REFERENCES hosts(id) ON DELETE CASCADE,
     identity_id      TEXT NOT NULL REFERENCES identities(id) ON DELETE CASCADE,
     server_cert_pem  TEXT NOT NULL,
     paired_at        INTEGER NOT NULL,
     PRIMARY KEY (host_id, identity_id)
   );
   CREATE TABLE streamers (
     id           TEXT PRIMARY KEY,
     host_id      TEXT REFERENCES hosts(id) ON DELETE SET NULL,
     identity_id  TEXT REFERENCES identities(id) ON DELETE SET NULL,
     settings     TEXT NOT NULL,
     created_at   INTEGER NOT NULL
   );`,
];

export interface IdentityRecord {
  id: string;
  uniqueId: string;
  certPem: string;
  keyPem: string;
  createdAt: number;
}

export interface HostRecord {
  id: string;
  address: string;
  httpPort: number;
  name: string | null;
  uuid: string | null;
  addedAt: number;
  lastSeenAt: number | null;
}

export interface PairingRecord {
  hostId: string;
  identityId: string;
  serverCertPem: string;
  pairedAt: number;
}

export interface StreamerRecord {
  id: string;
  hostId: string | null;
  identityId: string | null;
  settings: Record<string, unknown>;
  createdAt: number;
}

export class StoreError extends Error {
  override name = "StoreError";
}

/** Why the database could not be used; the HTTP layer answers 507 for "full", 503 otherwise. */
export type StoreFailure = "full" | "busy" | "readonly" | "io";

const FAILURE_TEXT: Record<StoreFailure, string> = {
  full: "the disk is full",
  busy: "the database is locked by another process",
  readonly: "the database is read-only",
  io: "a disk I/O error",
};

/** The database refused an operation for a reason outside mlstream (disk full, locked, read-only, I/O). */
export class StoreUnavailableError extends Error {
  override name = "StoreUnavailableError";
  readonly failure: StoreFailure;
  readonly sqliteCode: string;
  constructor(what: string, failure: StoreFailure, sqliteCode: string) {
    super(`could not ${what}: ${FAILURE_TEXT[failure]} (${sqliteCode})`);
    this.failure = failure;
    this.sqliteCode = sqliteCode;
  }
}

/** SQLite's (extended) result code → failure class; undefined for errors that are ours (constraints, SQL). */
function classify(error: unknown): StoreFailure | undefined {
  const code = (error as { code?: unknown } | undefined)?.code;
  if (typeof code !== "string") return undefined;
  if (code.startsWith("SQLITE_FULL")) return "full";
  if (code.startsWith("SQLITE_BUSY") || code.startsWith("SQLITE_LOCKED")) return "busy";
  if (code.startsWith("SQLITE_READONLY")) return "readonly";
  if (code.startsWith("SQLITE_IOERR") || code.startsWith("SQLITE_CANTOPEN") || code === "SQLITE_PROTOCOL") return "io";
  return undefined;
}

/** The identity used when a streamer does not ask for one of its own. */
export const SHARED_IDENTITY_ID = "shared";

export class Store {
  readonly path: string;
  readonly #db: Database;
  #closed = false;

  private constructor(path: string, db: Database) {
    this.path = path;
    this.#db = db;
  }

  /** Opens (creating if needed) the store in `dataDir` and applies pending migrations. */
  static open(dataDir: string): Store {
    try {
      mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    } catch (err) {
      throw new StoreError(`cannot create data dir ${dataDir}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
    }
    const path = join(dataDir, STORE_FILE);
    // mkdir's mode only applies to a dir it creates: an existing one (made by hand, by an older
    // mlstream, or under a loose umask) is tightened here, as are the store files in it.
    chmodSync(dataDir, 0o700);
    // Create the file private before SQLite opens it; SQLite gives new -wal/-shm the same mode.
    if (!existsSync(path)) closeSync(openSync(path, "a", 0o600));
    for (const file of [path, `${path}-wal`, `${path}-shm`]) if (existsSync(file)) chmodSync(file, 0o600);
    let db: Database;
    try {
      db = new Database(path, { strict: true, create: true });
    } catch (err) {
      throw new StoreError(`cannot open ${path}: ${(err as Error).message}`);
    }
    db.run("PRAGMA journal_mode = WAL");
    db.run("PRAGMA foreign_keys = ON");
    db.run("PRAGMA busy_timeout = 5000");
    const store = new Store(path, db);
    store.#migrate();
    return store;
  }

  #migrate(): void {
    const { user_version: current } = this.#db.query("PRAGMA user_version").get() as { user_version: number };
    if (current > MIGRATIONS.length) {
      throw new StoreError(`${this.path} has schema version ${current}, newer than this mlstream knows (${MIGRATIONS.length}); upgrade mlstream`);
    }
    for (let version = current; version < MIGRATIONS.length; version++) {
      this.#db.transaction(() => {
        this.#db.run(MIGRATIONS[version]!);
        this.#db.run(`PRAGMA user_version = ${version + 1}`);
      })();
    }
  }

  get schemaVersion(): number {
    return (this.#db.query("PRAGMA user_version").get() as { user_version: number }).user_version;
  }

  /** Runs one store operation; environment failures become StoreUnavailableError naming `what`. */
  #guard<T>(what: string, operation: () => T): T {
    try {
      return operation();
    } catch (error) {
      const failure = classify(error);
      if (failure) throw new StoreUnavailableError(what, failure, (error as { code: string }).code);
      throw error;
    }
  }

  // ── identities ──────────────────────────────────────────────────────────────

  getIdentity(id: string): IdentityRecord | undefined {
    return this.#guard(`read identity '${id}'`, () => {
      const row = this.#db.query("SELECT * FROM identities WHERE id = ?").get(id) as Record<string, unknown> | null;
      return row ? toIdentity(row) : undefined;
    });
  }

  putIdentity(identity: IdentityRecord): void {
    this.#guard(`save identity '${identity.id}'`, () => {
      this.#db
        .query("INSERT OR REPLACE INTO identities (id, unique_id, cert_pem, key_pem, created_at) VALUES (?, ?, ?, ?, ?)")
        .run(identity.id, identity.uniqueId, identity.certPem, identity.keyPem, identity.createdAt);
    });
  }

  /** Returns the identity `id`, creating it with `create()` on first use (atomically). */
  ensureIdentity(id: string, create: () => Omit<IdentityRecord, "id" | "createdAt">): IdentityRecord {
    return this.#guard(`save identity '${id}'`, () => {
      return this.#db.transaction(() => {
        const existing = this.getIdentity(id);
        if (existing) return existing;
        const record: IdentityRecord = { id, ...create(), createdAt: Date.now() };
        this.putIdentity(record);
        return record;
      })();
    });
  }

  // ── hosts ───────────────────────────────────────────────────────────────────

  listHosts(): HostRecord[] {
    return this.#guard("read the hosts", () => (this.#db.query("SELECT * FROM hosts ORDER BY added_at, id").all() as Record<string, unknown>[]).map(toHost));
  }

  getHost(id: string): HostRecord | undefined {
    return this.#guard(`read host '${id}'`, () => {
      const row = this.#db.query("SELECT * FROM hosts WHERE id = ?").get(id) as Record<string, unknown> | null;
      return row ? toHost(row) : undefined;
    });
  }

  /**
   * Finds a host the way a user names it: its id, its name, `address:port`, or a bare address when
   * only one host has it.
   */
  findHost(ref: string): HostRecord | undefined {
    const hosts = this.listHosts();
    const exact = hosts.find((h) => h.id === ref) ?? hosts.find((h) => h.name !== null && h.name === ref);
    if (exact) return exact;
    const byEndpoint = hosts.find((h) => `${formatAddress(h.address)}:${h.httpPort}` === ref);
    if (byEndpoint) return byEndpoint;
    const byAddress = hosts.filter((h) => h.address === ref || formatAddress(h.address) === ref);
    return byAddress.length === 1 ? byAddress[0] : undefined;
  }

  addHost(host: Omit<HostRecord, "addedAt" | "lastSeenAt"> & { addedAt?: number }): HostRecord {
    return this.#guard(`save host ${formatAddress(host.address)}:${host.httpPort}`, () => {
      const record: HostRecord = { ...host, addedAt: host.addedAt ?? Date.now(), lastSeenAt: null };
      try {
        this.#db
          .query("INSERT INTO hosts (id, address, http_port, name, uuid, added_at, last_seen_at) VALUES (?, ?, ?, ?, ?, ?, ?)")
          .run(record.id, record.address, record.httpPort, record.name, record.uuid, record.addedAt, record.lastSeenAt);
      } catch (err) {
        if (String(err).includes("UNIQUE")) throw new StoreError(`host ${formatAddress(host.address)}:${host.httpPort} is already added`);
        throw err;
      }
      return record;
    });
  }

  updateHost(id: string, changes: Partial<Pick<HostRecord, "name" | "uuid" | "lastSeenAt">>): void {
    this.#guard(`update host '${id}'`, () => {
      const current = this.getHost(id);
      if (!current) throw new StoreError(`no host ${id}`);
      const next = { ...current, ...changes };
      this.#db.query("UPDATE hosts SET name = ?, uuid = ?, last_seen_at = ? WHERE id = ?").run(next.name, next.uuid, next.lastSeenAt, id);
    });
  }

  removeHost(id: string): boolean {
    return this.#guard(`remove host '${id}'`, () => this.#db.query("DELETE FROM hosts WHERE id = ?").run(id).changes > 0);
  }

  // ── pairings ────────────────────────────────────────────────────────────────

  getPairing(hostId: string, identityId: string): PairingRecord | undefined {
    return this.#guard(`read the pairing of host '${hostId}'`, () => {
      const row = this.#db.query("SELECT * FROM pairings WHERE host_id = ? AND identity_id = ?").get(hostId, identityId) as Record<string, unknown> | null;
      return row ? toPairing(row) : undefined;
    });
  }

  listPairings(hostId: string): PairingRecord[] {
    return this.#guard(`read the pairings of host '${hostId}'`, () => (this.#db.query("SELECT * FROM pairings WHERE host_id = ? ORDER BY paired_at").all(hostId) as Record<string, unknown>[]).map(toPairing));
  }

  putPairing(pairing: PairingRecord): void {
    this.#guard(`save the pairing with host '${pairing.hostId}'`, () => {
      this.#db
        .query("INSERT OR REPLACE INTO pairings (host_id, identity_id, server_cert_pem, paired_at) VALUES (?, ?, ?, ?)")
        .run(pairing.hostId, pairing.identityId, pairing.serverCertPem, pairing.pairedAt);
    });
  }

  removePairing(hostId: string, identityId: string): boolean {
    return this.#guard(`remove the pairing with host '${hostId}'`, () => this.#db.query("DELETE FROM pairings WHERE host_id = ? AND identity_id = ?").run(hostId, identityId).changes > 0);
  }

  // ── streamers ───────────────────────────────────────────────────────────────

  listStreamers(): StreamerRecord[] {
    return this.#guard("read the streamers", () => (this.#db.query("SELECT * FROM streamers ORDER BY created_at, id").all() as Record<string, unknown>[]).map(toStreamer));
  }

  getStreamer(id: string): StreamerRecord | undefined {
    return this.#guard(`read streamer '${id}'`, () => {
      const row = this.#db.query("SELECT * FROM streamers WHERE id = ?").get(id) as Record<string, unknown> | null;
      return row ? toStreamer(row) : undefined;
    });
  }

  putStreamer(streamer: StreamerRecord): void {
    this.#guard(`save streamer '${streamer.id}'`, () => {
      this.#db
        .query("INSERT OR REPLACE INTO streamers (id, host_id, identity_id, settings, created_at) VALUES (?, ?, ?, ?, ?)")
        .run(streamer.id, streamer.hostId, streamer.identityId, JSON.stringify(streamer.settings), streamer.createdAt);
    });
  }

  removeStreamer(id: string): boolean {
    return this.#guard(`remove streamer '${id}' from the store`, () => this.#db.query("DELETE FROM streamers WHERE id = ?").run(id).changes > 0);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#db.close();
  }
}

/** `::1` → `[::1]` so that `address:port` stays unambiguous. */
export function formatAddress(address: string): string {
  return address.includes(":") ? `[${address}]` : address;
}

function toIdentity(row: Record<string, unknown>): IdentityRecord {
  return {
    id: row.id as string,
    uniqueId: row.unique_id as string,
    certPem: row.cert_pem as string,
    keyPem: row.key_pem as string,
    createdAt: row.created_at as number,
  };
}

function toHost(row: Record<string, unknown>): HostRecord {
  return {
    id: row.id as string,
    address: row.address as string,
    httpPort: row.http_port as number,
    name: (row.name as string | null) ?? null,
    uuid: (row.uuid as string | null) ?? null,
    addedAt: row.added_at as number,
    lastSeenAt: (row.last_seen_at as number | null) ?? null,
  };
}

function toPairing(row: Record<string, unknown>): PairingRecord {
  return {
    hostId: row.host_id as string,
    identityId: row.identity_id as string,
    serverCertPem: row.server_cert_pem as string,
    pairedAt: row.paired_at as number,
  };
}

function toStreamer(row: Record<string, unknown>): StreamerRecord {
  return {
    id: row.id as string,
    hostId: (row.host_id as string | null) ?? null,
    identityId: (row.identity_id as string | null) ?? null,
    settings: JSON.parse(row.settings as string) as Record<string, unknown>,
    createdAt: row.created_at as number,
  };
}
