/**
 * The command line that starts this same mlstream again (for one process per streamer): the
 * compiled binary runs itself; from source, Bun runs the entry script.
 */
export function selfCommand(args: string[]): string[] {
  const compiled = Bun.main.startsWith("/$bunfs/");
  return compiled ? [process.execPath, ...args] : [process.execPath, Bun.main, ...args];
}
