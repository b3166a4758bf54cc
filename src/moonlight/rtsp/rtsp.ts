/**
 * GameStream RTSP messages (reference §2.2–§2.3): parse/serialize for requests and responses,
 * and the encrypted framing of `rtspenc://` sessions. Shared by our RTSP client and the simulated
 * host's RTSP server.
 *
 *   <METHOD> <target> RTSP/1.0\r\n   |   RTSP/1.0 <code> <reason>\r\n
 *   Name: value\r\n                  (at least one; exactly one space after the colon)
 *   \r\n
 *   <body>                           (everything after the first \r\n\r\n)
 *
 * Encrypted frame: u32be 0x80000000 | plaintextLength ‖ u32be seq ‖ tag[16] ‖ AES-128-GCM
 * ciphertext of the whole plaintext message. Key rikey, no AAD; IV = u32le seq ‖ 0×6 ‖ 'C'/'H'
 * (sender) ‖ 'R'.
 *
 * Bodies are kept as latin1 strings so that every byte survives a parse/serialize round trip.
 */
import { aesGcmDecrypt, aesGcmEncrypt } from "../control/control-crypto.ts";

export const RTSP_PROTOCOL = "RTSP/1.0";

export type RtspHeader = [name: string, value: string];

export interface RtspRequest {
  kind: "request";
  method: string;
  target: string;
  headers: RtspHeader[];
  body: string;
}

export interface RtspResponse {
  kind: "response";
  statusCode: number;
  reasonPhrase: string;
  headers: RtspHeader[];
  body: string;
}

export type RtspMessage = RtspRequest | RtspResponse;

export class RtspParseError extends Error {
  override name = "RtspParseError";
}

export class RtspDecryptError extends Error {
  override name = "RtspDecryptError";
}

const HEADER_END = "\r\n\r\n";

export function serializeRtspMessage(message: RtspMessage): Uint8Array {
  const start =
    message.kind === "request"
      ? `${message.method} ${message.target} ${RTSP_PROTOCOL}`
      : `${RTSP_PROTOCOL} ${message.statusCode} ${message.reasonPhrase}`;
  let text = `${start}\r\n`;
  for (const [name, value] of message.headers) text += `${name}: ${value}\r\n`;
  text += `\r\n${message.body}`;
  return Uint8Array.from(Buffer.from(text, "latin1"));
}

/**
 * Parses one complete message with the Moonlight parser's rules: protocol token exactly
 * RTSP/1.0, at least one header, names end at ':', values skip exactly one character after it.
 */
export function parseRtspMessage(input: Uint8Array | string): RtspMessage {
  const text = typeof input === "string" ? input : Buffer.from(input).toString("latin1");
  const end = text.indexOf(HEADER_END);
  if (end < 0) throw new RtspParseError("header block does not end with an empty line");
  const lines = text.slice(0, end).split("\r\n");
  const body = text.slice(end + HEADER_END.length);
  const first = lines[0] ?? "";
  const headers: RtspHeader[] = [];
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(":");
    if (colon <= 0) throw new RtspParseError(`malformed header line ${JSON.stringify(line)}`);
    const name = line.slice(0, colon);
    if (/\s/.test(name)) throw new RtspParseError(`header name with whitespace ${JSON.stringify(name)}`);
    headers.push([name, line.slice(colon + 2)]);
  }
  if (headers.length === 0) throw new RtspParseError("message without headers");
  if (first.startsWith(`${RTSP_PROTOCOL} `)) {
    const rest = first.slice(RTSP_PROTOCOL.length + 1);
    const space = rest.indexOf(" ");
    const code = Number(space < 0 ? rest : rest.slice(0, space));
    if (!Number.isInteger(code) || code < 100 || code > 999) throw new RtspParseError(`bad status line ${JSON.stringify(first)}`);
    return { kind: "response", statusCode: code, reasonPhrase: space < 0 ? "" : rest.slice(space + 1), headers, body };
  }
  const parts = first.split(" ");
  if (parts.length !== 3 || parts[2] !== RTSP_PROTOCOL || !parts[0] || !parts[1]) {
    throw new RtspParseError(`bad request line ${JSON.stringify(first)}`);
  }
  return { kind: "request", method: parts[0], target: parts[1], headers, body };
}

/** Header lookup, exact and case-sensitive as in the Moonlight client. */
export function getHeader(message: RtspMessage, name: string): string | undefined {
  return message.headers.find(([n]) => n === name)?.[1];
}

/** Case-insensitive lookup, for a host reading `Content-length` however it is spelled. */
export function getHeaderIgnoreCase(message: RtspMessage, name: string): string | undefined {
  const lower = name.toLowerCase();
  return message.headers.find(([n]) => n.toLowerCase() === lower)?.[1];
}

/**
 * Host side: length of the first complete plaintext request in `buffer` (headers, then as many
 * body bytes as a Content-Length header announces, any case), or undefined if more is needed.
 */
export function completeRequestLength(buffer: Uint8Array): number | undefined {
  const text = Buffer.from(buffer).toString("latin1");
  const end = text.indexOf(HEADER_END);
  if (end < 0) return undefined;
  const match = /\r\ncontent-length: ?(\d+)/i.exec(text.slice(0, end + 2));
  const total = end + HEADER_END.length + (match ? Number(match[1]) : 0);
  return buffer.byteLength >= total ? total : undefined;
}

export type RtspSender = "client" | "host";

const ENCRYPTED_FLAG = 0x80000000;
const ENCRYPTED_HEADER_LENGTH = 24;

function rtspIv(seq: number, sender: RtspSender): Uint8Array {
  const iv = new Uint8Array(12);
  new DataView(iv.buffer).setUint32(0, seq >>> 0, true);
  iv[10] = sender === "client" ? 0x43 : 0x48;
  iv[11] = 0x52;
  return iv;
}

/** Wraps a plaintext RTSP message in the encrypted framing. */
export function encryptRtspMessage(key: Uint8Array, seq: number, sender: RtspSender, plaintext: Uint8Array): Uint8Array {
  const { tag, ciphertext } = aesGcmEncrypt(key, rtspIv(seq, sender), plaintext);
  const out = new Uint8Array(ENCRYPTED_HEADER_LENGTH + ciphertext.byteLength);
  const view = new DataView(out.buffer);
  view.setUint32(0, (ENCRYPTED_FLAG | plaintext.byteLength) >>> 0);
  view.setUint32(4, seq >>> 0);
  out.set(tag, 8);
  out.set(ciphertext, ENCRYPTED_HEADER_LENGTH);
  return out;
}

/** Length of the complete encrypted frame at the start of `buffer`, or undefined if incomplete. */
export function encryptedFrameLength(buffer: Uint8Array): number | undefined {
  if (buffer.byteLength < 4) return undefined;
  const word = new DataView(buffer.buffer, buffer.byteOffset, 4).getUint32(0);
  if ((word & ENCRYPTED_FLAG) === 0) throw new RtspDecryptError("frame is not marked encrypted");
  const total = ENCRYPTED_HEADER_LENGTH + (word & 0x7fffffff);
  return buffer.byteLength >= total ? total : undefined;
}

/** Opens one encrypted frame; the length field must match the bytes exactly, as the client checks. */
export function decryptRtspMessage(key: Uint8Array, frame: Uint8Array, sender: RtspSender): { seq: number; plaintext: Uint8Array } {
  if (frame.byteLength < ENCRYPTED_HEADER_LENGTH) throw new RtspDecryptError(`frame of ${frame.byteLength} bytes`);
  const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  const word = view.getUint32(0);
  if ((word & ENCRYPTED_FLAG) === 0) throw new RtspDecryptError("frame is not marked encrypted");
  if ((word & 0x7fffffff) !== frame.byteLength - ENCRYPTED_HEADER_LENGTH) throw new RtspDecryptError("length field does not match the frame");
  const seq = view.getUint32(4);
  try {
    const plaintext = aesGcmDecrypt(key, rtspIv(seq, sender), frame.subarray(ENCRYPTED_HEADER_LENGTH), frame.subarray(8, 24));
    return { seq, plaintext };
  } catch {
    throw new RtspDecryptError("RTSP frame failed authentication");
  }
}
