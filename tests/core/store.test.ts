import { Database } from "bun:sqlite";
import { describe, expect, test } from "bun:test";
import { chmodSync, mkdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { Store, STORE_FILE } from "../../src/core/store.ts";
import { tempDir } from "../support/cli.ts";

function withStore(fn: (store: Store, dir: string) => void): void {
  const dir = tempDir();
  const store = Store.open(join(dir.path, "data"));
  try {
    fn(store, join(dir.path, "data"));
  } finally {
    store.close();
    dir.cleanup();
  }
}

describe("Store", () => {
  test("a new store is migrated, in WAL mode, and private to the user", () => {
    withStore((store, dir) => {
      expect(store.schemaVersion).toBeGreaterThanOrEqual(1);
      expect(statSync(join(dir, STORE_FILE)).mode & 0o777).toBe(0o600);
      expect(statSync(dir).mode & 0o777).toBe(0o700);
      const db = new Database(join(dir, STORE_FILE), { readonly: true });
      expect((db.query("PRAGMA journal_mode").get() as { journal_mode: string }).journal_mode).toBe("wal");
      db.close();
    });
  });

  test("an existing data dir and store files made with loose modes are tightened to 0700 / 0600 at open", () => {
    const dir = tempDir();
    try {
      const data = join(dir.path, "data");
      mkdirSync(data, { mode: 0o755 });
      chmodSync(data, 0o755);
      Store.open(data).close();
      const db = join(data, STORE_FILE);
      chmodSync(db, 0o644);
      chmodSync(data, 0o755);
      const store = Store.open(data);
      store.addHost({ id: "h1", address: "127.0.0.1", httpPort: 47989, name: null, uuid: null });
      expect(statSync(data).mode & 0o777).toBe(0o700);
      for (const file of [db, `${db}-wal`, `${db}-shm`]) expect(statSync(file).mode & 0o777).toBe(0o600);
      store.close();
    } finally {
      dir.cleanup();
    }
  });

  test("reopening keeps data and does not re-run migrations", () => {
    const dir = tempDir();
    try {
      const first = Store.open(dir.path);
      first.addHost({ id: "h1", address: "127.0.0.1", httpPort: 47989, name: "box", uuid: null });
      const version = first.schemaVersion;
      first.close();
      const second = Store.open(dir.path);
      expect(second.schemaVersion).toBe(version);
      expect(second.listHosts().map((h) => h.id)).toEqual(["h1"]);
      second.close();
    } finally {
      dir.cleanup();
    }
  });

  test("a store from a newer mlstream is refused rather than damaged", () => {
    const dir = tempDir();
    try {
      Store.open(dir.path).close();
      const db = new Database(join(dir.path, STORE_FILE));
      db.run("PRAGMA user_version = 999");
      db.close();
      expect(() => Store.open(dir.path)).toThrow(/schema version 999, newer than this mlstream knows/);
    } finally {
      dir.cleanup();
    }
  });

  test("hosts are found by id, name, address:port, or an unambiguous address", () => {
    withStore((store) => {
      store.addHost({ id: "a", address: "127.0.0.1", httpPort: 47989, name: "desk", uuid: null });
      store.addHost({ id: "b", address: "::1", httpPort: 47989, name: null, uuid: null });
      store.addHost({ id: "c", address: "127.0.0.2", httpPort: 1000, name: null, uuid: null });
      store.addHost({ id: "d", address: "127.0.0.2", httpPort: 2000, name: null, uuid: null });
      expect(store.findHost("a")?.id).toBe("a");
      expect(store.findHost("desk")?.id).toBe("a");
      expect(store.findHost("127.0.0.1")?.id).toBe("a");
      expect(store.findHost("[::1]:47989")?.id).toBe("b");
      expect(store.findHost("::1")?.id).toBe("b");
      expect(store.findHost("127.0.0.2")).toBeUndefined();
      expect(store.findHost("127.0.0.2:2000")?.id).toBe("d");
      expect(() => store.addHost({ id: "e", address: "127.0.0.1", httpPort: 47989, name: null, uuid: null })).toThrow(/already added/);
    });
  });

  test("removing a host removes its pairings", () => {
    withStore((store) => {
      store.addHost({ id: "h", address: "127.0.0.1", httpPort: 47989, name: null, uuid: null });
      store.ensureIdentity("shared", () => ({ uniqueId: "0123456789ABCDEF", certPem: "CERT", keyPem: "KEY" }));
      store.putPairing({ hostId: "h", identityId: "shared", serverCertPem: "SERVER", pairedAt: 1 });
      expect(store.getPairing("h", "shared")?.serverCertPem).toBe("SERVER");
      expect(store.removeHost("h")).toBe(true);
      expect(store.getPairing("h", "shared")).toBeUndefined();
    });
  });

  test("ensureIdentity creates once and then returns the stored identity", () => {
    withStore((store) => {
      let made = 0;
      const create = () => {
        made++;
        return { uniqueId: `ID${made}`, certPem: "C", keyPem: "K" };
      };
      const a = store.ensureIdentity("shared", create);
      const b = store.ensureIdentity("shared", create);
      expect(made).toBe(1);
      expect(b.uniqueId).toBe(a.uniqueId);
    });
  });

  test("streamers round-trip their settings", () => {
    withStore((store) => {
      store.putStreamer({ id: "s1", hostId: null, identityId: null, settings: { width: 1920, codec: "h264" }, createdAt: 5 });
      expect(store.getStreamer("s1")?.settings).toEqual({ width: 1920, codec: "h264" });
      expect(store.removeStreamer("s1")).toBe(true);
      expect(store.listStreamers()).toEqual([]);
    });
  });
});
