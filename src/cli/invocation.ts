/**
 * How the person at the keyboard runs this CLI, for the commands it suggests: the compiled binary
 * is `mlstream`; from a clone it is `npx mlstream` (package.json's bin, run by the Bun that
 * `npm ci` installed — neither is on PATH by itself).
 */
export function invocation(): string {
  return Bun.main.startsWith("/$bunfs/") ? "mlstream" : "npx mlstream";
}
