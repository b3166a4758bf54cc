/**
 * The HTTP application behind `mlstream serve`. Routes live under the configured base path so that
 * mlstream can sit behind a reverse proxy at a prefix.
 */
import { Elysia } from "elysia";
import type { Config } from "../core/config.ts";
import { logger } from "../core/log.ts";
import { errorBody, HttpError } from "./http-error.ts";

const log = logger("http");

export interface AppOptions {
  config: Config;
  version: string;
}

export function createApp({ config, version }: AppOptions) {
  const startedAt = Date.now();
  return new Elysia({ prefix: config.server.base_path })
    .onError(({ code, error, set }) => {
      if (error instanceof HttpError) {
        set.status = error.status;
        return errorBody(error.code, error.message);
      }
      switch (code) {
        case "NOT_FOUND":
          set.status = 404;
          return errorBody("not_found", "no such route");
        case "VALIDATION":
          set.status = 422;
          return errorBody("invalid_request", error.message.split("\n")[0] ?? "invalid request");
        case "PARSE":
          set.status = 400;
          return errorBody("bad_body", "request body could not be parsed");
        default:
          log.error(error);
          set.status = 500;
          return errorBody("internal", "internal server error");
      }
    })
    .get("/healthz", () => ({ ok: true, version, uptime_s: Math.round((Date.now() - startedAt) / 1000) }))
    .get("/api/version", () => ({ name: "mlstream", version }));
}

export type App = ReturnType<typeof createApp>;
