/**
 * ICE servers in the two spellings we deal with: libdatachannel's URL form
 * (`turn:user:password@host:port?transport=tcp`) and the browser's RTCIceServer
 * (`{ urls: "turn:host:port?transport=tcp", username, credential }`). Both sides of a viewer's
 * connection need the same TURN servers, so the server hands the browser its list at join.
 *
 * `ice_servers_command` (config) is run per viewer and prints a JSON array of either form, for
 * deployments that mint short-lived TURN credentials.
 */
export interface BrowserIceServer {
  urls: string;
  username?: string;
  credential?: string;
}

export class IceServerError extends Error {
  override name = "IceServerError";
}

const URL_FORM = /^(stuns?|turns?):(?:([^:@]*):([^@]*)@)?(.+)$/;

export function toBrowserIceServer(url: string): BrowserIceServer {
  const match = URL_FORM.exec(url.trim());
  if (!match) throw new IceServerError(`not a stun:/turn: URL`);
  const [, scheme, username, password, rest] = match;
  const server: BrowserIceServer = { urls: `${scheme}:${rest}` };
  if (username !== undefined) server.username = decodeURIComponent(username);
  if (password !== undefined) server.credential = decodeURIComponent(password);
  return server;
}

export function toLibDataChannelUrl(server: BrowserIceServer): string {
  const match = /^(stuns?|turns?):(.+)$/.exec(server.urls);
  if (!match) throw new IceServerError(`not a stun:/turn: URL`);
  if (server.username === undefined) return server.urls;
  return `${match[1]}:${encodeURIComponent(server.username)}:${encodeURIComponent(server.credential ?? "")}@${match[2]}`;
}

/** Runs the configured command and reads its JSON list (strings or RTCIceServer objects). */
export async function iceServersFromCommand(command: string, timeoutMs = 5000): Promise<string[]> {
  const proc = Bun.spawn(["sh", "-c", command], { stdout: "pipe", stderr: "pipe", stdin: "ignore", timeout: timeoutMs });
  const [stdout, code] = await Promise.all([new Response(proc.stdout).text(), proc.exited]);
  if (code !== 0) throw new IceServerError(`ice_servers_command exited with ${code}`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(stdout);
  } catch {
    throw new IceServerError("ice_servers_command did not print JSON");
  }
  if (!Array.isArray(parsed)) throw new IceServerError("ice_servers_command must print a JSON array");
  return parsed.map((entry) => {
    if (typeof entry === "string") return entry;
    if (entry && typeof entry === "object" && typeof (entry as BrowserIceServer).urls === "string") return toLibDataChannelUrl(entry as BrowserIceServer);
    throw new IceServerError("each ICE server must be a URL string or { urls, username, credential }");
  });
}
