/**
 * One `mlstream serve` per data dir. Two would both restore the same streamers and fight over the
 * same host sessions.
 *
 * The lock is an exclusive SQLite lock on `serve.lock` in the data dir. SQLite takes it with an
 * fcntl() lock, which the kernel drops when the holding process dies, so a serve that crashed
 * (even SIGKILL) never leaves a stale lock behind, and a recycled pid cannot fool it. The holder's
 * pid goes into `serve.pid` beside it, only to name the holder in the refusal.
 */
import { Database } from "bun:sqlite";
import { chmodSync, closeSync, existsSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export const LOCK_FILE = "serve.lock";
export const PID_FILE = "serve.pid";

export class DataDirLockedError extends Error {
  override name = "DataDirLockedError";
  constructor(dataDir: string, holderPid: number | undefined) {
    super(`data dir ${dataDir} is in use by another mlstream serve${holderPid ? ` (pid ${holderPid})` : ""}; stop it or use another --data-dir`);
  }
}

export class DataDirLock {
  readonly #db: Database;
  readonly #pidPath: string;
  #released = false;

  private constructor(db: Database, pidPath: string) {
    this.#db = db;
    this.#pidPath = pidPath;
  }

  /** Takes the lock of `dataDir` (which must exist) at once, or throws DataDirLockedError. */
  static acquire(dataDir: string): DataDirLock {
    const path = join(dataDir, LOCK_FILE);
    const pidPath = join(dataDir, PID_FILE);
    if (!existsSync(path)) closeSync(openSync(path, "a", 0o600));
    const db = new Database(path, { create: true });
    try {
      // No waiting: a second serve must fail now, not after a busy timeout.
      db.run("PRAGMA busy_timeout = 0");
      // EXCLUSIVE locking mode keeps the lock after the transaction, until the connection closes.
      db.run("PRAGMA locking_mode = EXCLUSIVE");
      db.run("PRAGMA journal_mode = OFF");
      db.run("BEGIN EXCLUSIVE");
      db.run("COMMIT");
    } catch (err) {
      db.close();
      if ((err as { code?: string }).code === "SQLITE_BUSY") throw new DataDirLockedError(dataDir, readPid(pidPath));
      throw err;
    }
    writeFileSync(pidPath, `${process.pid}\n`, { mode: 0o600 });
    chmodSync(pidPath, 0o600);
    return new DataDirLock(db, pidPath);
  }

  /** Idempotent. */
  release(): void {
    if (this.#released) return;
    this.#released = true;
    rmSync(this.#pidPath, { force: true });
    this.#db.close();
  }
}

function readPid(path: string): number | undefined {
  try {
    const pid = Number.parseInt(readFileSync(path, "utf8"), 10);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}
