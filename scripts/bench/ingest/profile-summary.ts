/**
 * Where a Bun CPU profile's time goes: self samples by function (native ones with their nearest
 * caller in src/) and by source file, from a
 * `.cpuprofile` written with `--cpu-prof` (Chrome DevTools format: nodes with callFrame + hitCount
 * or samples + timeDeltas). Used for the ingest bench's profile summary (issue 22).
 *
 *   bun scripts/bench/ingest/profile-summary.ts <file.cpuprofile> [--top 25]
 */
import { readFileSync } from "node:fs";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}
interface Profile {
  nodes: ProfileNode[];
  samples?: number[];
  timeDeltas?: number[];
  startTime: number;
  endTime: number;
}

const args = process.argv.slice(2);
const file = args.find((a) => !a.startsWith("--"));
if (!file) throw new Error("usage: profile-summary.ts <file.cpuprofile> [--top N]");
const topIndex = args.indexOf("--top");
const TOP = topIndex >= 0 ? Number(args[topIndex + 1]) : 25;
const profile = JSON.parse(readFileSync(file, "utf8")) as Profile;

// Bun samples the JS thread only while it runs (timeDeltas include the idle gaps), so each sample
// counts as one unit of running time; files without samples fall back to hitCount.
const selfSamples = new Map<number, number>();
if (profile.samples) {
  for (const id of profile.samples) selfSamples.set(id, (selfSamples.get(id) ?? 0) + 1);
} else {
  for (const node of profile.nodes) selfSamples.set(node.id, node.hitCount ?? 0);
}
const parentOf = new Map<number, number>();
for (const node of profile.nodes) for (const child of (node as ProfileNode & { children?: number[] }).children ?? []) parentOf.set(child, node.id);
const nodeById = new Map(profile.nodes.map((n) => [n.id, n]));
const label = (node: ProfileNode) => `${node.callFrame.functionName || "(anonymous)"}  ${where(node)}${node.callFrame.url ? `:${node.callFrame.lineNumber + 1}` : ""}`;
function where(node: ProfileNode): string {
  return node.callFrame.url.replace(/^.*\/(src|node_modules|scripts)\//, "$1/") || "(native)";
}
/** The nearest caller that is our code, for native frames (what called subarray, set, …). */
function callerOf(node: ProfileNode): string {
  let id = parentOf.get(node.id);
  while (id !== undefined) {
    const parent = nodeById.get(id)!;
    if (parent.callFrame.url.includes("/src/")) return label(parent);
    id = parentOf.get(id);
  }
  return "";
}

const byFunction = new Map<string, number>();
const byFile = new Map<string, number>();
let total = 0;
for (const node of profile.nodes) {
  const n = selfSamples.get(node.id) ?? 0;
  if (n === 0) continue;
  total += n;
  const caller = node.callFrame.url.includes("/src/") ? "" : callerOf(node);
  const name = caller ? `${label(node)}  ← ${caller}` : label(node);
  byFunction.set(name, (byFunction.get(name) ?? 0) + n);
  byFile.set(where(node), (byFile.get(where(node)) ?? 0) + n);
}

const table = (map: Map<string, number>) =>
  [...map.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, TOP)
    .map(([name, n]) => ({ "self %": Number(((n / total) * 100).toFixed(1)), samples: n, name }));
console.log(`${file}: ${total} samples of the running JS thread`);
console.table(table(byFunction));
console.table(table(byFile));
