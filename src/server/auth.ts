/**
 * Who is calling. With no token configured (loopback only; `serve` refuses anything else) every
 * caller is an admin. With tokens configured, nothing but /healthz is open: admin tokens may do
 * everything; viewer and view-only tokens may only join streams through the peer WebSocket.
 *
 * Tokens come from `Authorization: Bearer …`, or `?access_token=` where a browser cannot set
 * headers (WebSockets, images) — the request gate allows the latter on GET and WebSocket routes only. Comparison is constant-time over SHA-256 digests, so neither the content
 * nor the length of a configured token leaks through timing.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import type { Config } from "../core/config.ts";

export type Role = "admin" | "viewer" | "view-only";

function digest(token: string): Buffer {
  return createHash("sha256").update(token).digest();
}

export class Auth {
  readonly #tokens: { digest: Buffer; role: Role }[];

  constructor(auth: Config["auth"]) {
    this.#tokens = [
      ...auth.admin_tokens.map((t) => ({ digest: digest(t), role: "admin" as const })),
      ...auth.viewer_tokens.map((t) => ({ digest: digest(t), role: "viewer" as const })),
      ...auth.view_only_tokens.map((t) => ({ digest: digest(t), role: "view-only" as const })),
    ];
  }

  get enabled(): boolean {
    return this.#tokens.length > 0;
  }

  /** The role of a request: undefined when tokens are required and none matches. */
  roleOf(request: Request, options: { allowQueryToken?: boolean } = {}): Role | undefined {
    if (!this.enabled) return "admin";
    const token = tokenOf(request, options.allowQueryToken ?? true);
    if (!token) return undefined;
    const candidate = digest(token);
    let role: Role | undefined;
    // Check every token (no early exit) so that timing says nothing about which one matched.
    for (const entry of this.#tokens) if (timingSafeEqual(entry.digest, candidate) && role === undefined) role = entry.role;
    return role;
  }
}

export function tokenOf(request: Request, allowQueryToken = true): string | undefined {
  const header = request.headers.get("authorization");
  if (header) {
    const match = /^Bearer\s+(.+)$/i.exec(header.trim());
    return match?.[1];
  }
  if (!allowQueryToken) return undefined;
  const query = new URL(request.url).searchParams.get("access_token");
  return query ?? undefined;
}
