/**
 * Where the real-session captures live: tests/fixtures/ (see each folder's README for how it was
 * recorded). The repo carries them, so a public clone runs every test with nothing beside it.
 */
import { resolve } from "node:path";

export const FIXTURES = resolve(import.meta.dir, "../fixtures");

/** One capture's folder, e.g. `fixturePath("wolf-h264-clean")`. */
export function fixturePath(name: string): string {
  return resolve(FIXTURES, name);
}
