/**
 * Debian's nginx as a reverse proxy for the browser tests, run as this test's own process: a
 * config in a temp dir, `daemon off`, pid/log/temp paths in that dir, listening on 127.0.0.1 on a
 * free port. It proxies one path prefix to mlstream with the WebSocket upgrade headers — the
 * configuration docs/ws-media.md's users put in front of mlstream.
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "../support/cli.ts";
import { freePort, until } from "./support.ts";

export const NGINX = ["/usr/sbin/nginx", "/usr/bin/nginx"].find((path) => existsSync(path));

export interface Nginx {
  port: number;
  /** The proxy's access log so far. */
  accessLog(): string;
  errorLog(): string;
  stop(): Promise<void>;
}

/** `location <prefix>/ { proxy_pass http://127.0.0.1:<upstreamPort>; … upgrade … }`. */
export async function startNginx(upstreamPort: number, prefix: string): Promise<Nginx> {
  if (!NGINX) throw new Error("nginx is not installed (apt-get install nginx)");
  const dir = tempDir("mlstream-nginx-");
  const port = await freePort();
  for (const sub of ["client", "proxy", "fastcgi", "uwsgi", "scgi"]) mkdirSync(join(dir.path, sub));
  const conf = join(dir.path, "nginx.conf");
  writeFileSync(
    conf,
    `daemon off;
master_process off;
worker_processes 1;
pid ${dir.path}/nginx.pid;
error_log ${dir.path}/error.log info;
events { worker_connections 256; }
http {
  access_log ${dir.path}/access.log;
  client_body_temp_path ${dir.path}/client;
  proxy_temp_path ${dir.path}/proxy;
  fastcgi_temp_path ${dir.path}/fastcgi;
  uwsgi_temp_path ${dir.path}/uwsgi;
  scgi_temp_path ${dir.path}/scgi;
  server {
    listen 127.0.0.1:${port};
    location ${prefix}/ {
      proxy_pass http://127.0.0.1:${upstreamPort};
      proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection "upgrade";
      proxy_set_header Host $host;
      proxy_read_timeout 300s;
    }
  }
}
`,
  );
  const proc = Bun.spawn([NGINX, "-c", conf, "-p", dir.path, "-e", join(dir.path, "error.log")], { stdout: "pipe", stderr: "pipe" });
  const read = (name: string) => {
    try {
      return readFileSync(join(dir.path, name), "utf8");
    } catch {
      return "";
    }
  };
  await until(async () => {
    if (proc.exitCode !== null) throw new Error(`nginx exited ${proc.exitCode}: ${read("error.log")}${await new Response(proc.stderr).text()}`);
    return fetch(`http://127.0.0.1:${port}/`).then(
      () => true,
      () => false,
    );
  }, 10_000, "nginx to listen");
  return {
    port,
    accessLog: () => read("access.log"),
    errorLog: () => read("error.log"),
    async stop() {
      proc.kill("SIGTERM");
      const exited = await Promise.race([proc.exited, Bun.sleep(5000).then(() => undefined)]);
      if (exited === undefined) proc.kill("SIGKILL");
      await proc.exited;
      rmSync(dir.path, { recursive: true, force: true });
    },
  };
}
