/**
 * Reader for the classic pcap captures in tests/fixtures (linktype EN10MB, IPv4 on `lo`).
 * Test and benchmark support only: it decodes Ethernet → IPv4 → UDP/TCP and, for TCP, joins each
 * direction of a connection into one byte stream (loopback captures have no loss or reordering).
 *
 * File header (24 B): magic u32 (a1b2c3d4 µs / a1b23c4d ns, either byte order), version 2.4,
 *   thiszone, sigfigs, snaplen, linktype.
 * Record (16 B + data): ts_sec u32, ts_frac u32, incl_len u32, orig_len u32.
 */
import { readFileSync } from "node:fs";

export interface UdpDatagram {
  index: number;
  /** Capture time in microseconds since the first record. */
  timeUs: number;
  srcAddr: string;
  srcPort: number;
  dstAddr: string;
  dstPort: number;
  payload: Uint8Array;
}

export interface TcpSegment {
  index: number;
  timeUs: number;
  srcPort: number;
  dstPort: number;
  seq: number;
  flags: number;
  payload: Uint8Array;
}

export interface TcpStream {
  /** Client (connection initiator) port and server port. */
  clientPort: number;
  serverPort: number;
  startUs: number;
  clientToServer: Uint8Array;
  serverToClient: Uint8Array;
}

export interface Capture {
  udp: UdpDatagram[];
  tcp: TcpSegment[];
}

const ETHERTYPE_IPV4 = 0x0800;
const IPPROTO_TCP = 6;
const IPPROTO_UDP = 17;
const TCP_SYN = 0x02;
const TCP_ACK = 0x10;

export class PcapFormatError extends Error {
  override name = "PcapFormatError";
}

export function readPcap(path: string): Capture {
  const file = readFileSync(path);
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const magic = view.getUint32(0, true);
  let little: boolean;
  let nanos: boolean;
  if (magic === 0xa1b2c3d4 || magic === 0xa1b23c4d) {
    little = true;
    nanos = magic === 0xa1b23c4d;
  } else if (view.getUint32(0, false) === 0xa1b2c3d4 || view.getUint32(0, false) === 0xa1b23c4d) {
    little = false;
    nanos = view.getUint32(0, false) === 0xa1b23c4d;
  } else {
    throw new PcapFormatError(`${path}: not a classic pcap file`);
  }
  const linktype = view.getUint32(20, little);
  if (linktype !== 1) throw new PcapFormatError(`${path}: linktype ${linktype}, expected EN10MB (1)`);

  const udp: UdpDatagram[] = [];
  const tcp: TcpSegment[] = [];
  let offset = 24;
  let index = 0;
  let firstUs: number | undefined;
  while (offset + 16 <= file.byteLength) {
    const sec = view.getUint32(offset, little);
    const frac = view.getUint32(offset + 4, little);
    const inclLen = view.getUint32(offset + 8, little);
    const data = offset + 16;
    offset = data + inclLen;
    const absUs = sec * 1e6 + (nanos ? Math.floor(frac / 1000) : frac);
    firstUs ??= absUs;
    const timeUs = absUs - firstUs;
    const recordIndex = index++;
    if (view.getUint16(data + 12, false) !== ETHERTYPE_IPV4) continue;
    const ip = data + 14;
    const ihl = (file[ip]! & 0x0f) * 4;
    const totalLen = view.getUint16(ip + 2, false);
    const proto = file[ip + 9]!;
    const src = `${file[ip + 12]}.${file[ip + 13]}.${file[ip + 14]}.${file[ip + 15]}`;
    const dst = `${file[ip + 16]}.${file[ip + 17]}.${file[ip + 18]}.${file[ip + 19]}`;
    const l4 = ip + ihl;
    const ipEnd = ip + totalLen;
    if (proto === IPPROTO_UDP) {
      udp.push({
        index: recordIndex,
        timeUs,
        srcAddr: src,
        srcPort: view.getUint16(l4, false),
        dstAddr: dst,
        dstPort: view.getUint16(l4 + 2, false),
        payload: file.subarray(l4 + 8, ipEnd),
      });
    } else if (proto === IPPROTO_TCP) {
      const dataOffset = (file[l4 + 12]! >> 4) * 4;
      tcp.push({
        index: recordIndex,
        timeUs,
        srcPort: view.getUint16(l4, false),
        dstPort: view.getUint16(l4 + 2, false),
        seq: view.getUint32(l4 + 4, false),
        flags: file[l4 + 13]!,
        payload: file.subarray(l4 + dataOffset, ipEnd),
      });
    }
  }
  return { udp, tcp };
}

/**
 * Joins TCP segments into connections, in the order their SYNs appear. Retransmitted bytes (same
 * sequence number seen twice) are skipped.
 */
export function tcpStreams(capture: Capture): TcpStream[] {
  const streams: TcpStream[] = [];
  const byKey = new Map<string, { stream: TcpStream; c2s: Uint8Array[]; s2c: Uint8Array[]; seen: Set<string> }>();
  for (const seg of capture.tcp) {
    const isSyn = (seg.flags & TCP_SYN) !== 0 && (seg.flags & TCP_ACK) === 0;
    const keyFwd = `${seg.srcPort}>${seg.dstPort}`;
    const keyRev = `${seg.dstPort}>${seg.srcPort}`;
    if (isSyn) {
      const stream: TcpStream = {
        clientPort: seg.srcPort,
        serverPort: seg.dstPort,
        startUs: seg.timeUs,
        clientToServer: new Uint8Array(0),
        serverToClient: new Uint8Array(0),
      };
      streams.push(stream);
      byKey.set(keyFwd, { stream, c2s: [], s2c: [], seen: new Set() });
      continue;
    }
    if (seg.payload.byteLength === 0) continue;
    const fwd = byKey.get(keyFwd);
    const rev = byKey.get(keyRev);
    const entry = fwd ?? rev;
    if (!entry) continue;
    const dedupe = `${fwd ? "c" : "s"}${seg.seq}`;
    if (entry.seen.has(dedupe)) continue;
    entry.seen.add(dedupe);
    (fwd ? entry.c2s : entry.s2c).push(seg.payload);
  }
  for (const { stream, c2s, s2c } of byKey.values()) {
    stream.clientToServer = Buffer.concat(c2s);
    stream.serverToClient = Buffer.concat(s2c);
  }
  return streams;
}
