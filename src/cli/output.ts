/** Command output on stdout: a plain table for people, or JSON for programs (`--json`). */

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** Prints rows as aligned columns with a header. Empty `rows` prints `empty` instead. */
export function printTable(headers: string[], rows: (string | number | boolean | null | undefined)[][], empty = "(none)"): void {
  if (rows.length === 0) {
    process.stdout.write(`${empty}\n`);
    return;
  }
  const cells = rows.map((row) => row.map((cell) => (cell === null || cell === undefined ? "-" : String(cell))));
  const widths = headers.map((h, i) => Math.max(h.length, ...cells.map((row) => (row[i] ?? "").length)));
  const line = (row: string[]) =>
    row
      .map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!)))
      .join("  ")
      .trimEnd();
  process.stdout.write(`${[line(headers.map((h) => h.toUpperCase())), ...cells.map(line)].join("\n")}\n`);
}
