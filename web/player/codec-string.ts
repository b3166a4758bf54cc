/**
 * WebCodecs codec strings for the WebSocket transport's video, read from the stream itself: an
 * `avc1.PPCCLL` from the H.264 SPS of the first keyframe (or the stream info's profile-level-id),
 * an `hvc1.…` from the HEVC SPS's profile_tier_level, an `av01.…` from the AV1 sequence header.
 * Annex B input: the decoder is configured without `description`.
 */

/** NAL units of an Annex B access unit (start codes removed; emulation prevention kept). */
export function annexBNalUnits(data: Uint8Array): Uint8Array[] {
  const units: Uint8Array[] = [];
  let start = -1;
  let i = 0;
  while (i + 2 < data.length) {
    if (data[i] === 0 && data[i + 1] === 0 && data[i + 2] === 1) {
      if (start >= 0) units.push(data.subarray(start, trimZeros(data, start, i)));
      i += 3;
      start = i;
    } else i++;
  }
  if (start >= 0 && start < data.length) units.push(data.subarray(start));
  return units;
}

function trimZeros(data: Uint8Array, start: number, end: number): number {
  while (end > start && data[end - 1] === 0) end--;
  return end;
}

/** Removes emulation-prevention bytes (00 00 03 → 00 00). */
export function rbsp(nal: Uint8Array): Uint8Array {
  const out = new Uint8Array(nal.length);
  let n = 0;
  let zeros = 0;
  for (const byte of nal) {
    if (zeros >= 2 && byte === 3) {
      zeros = 0;
      continue;
    }
    out[n++] = byte;
    zeros = byte === 0 ? zeros + 1 : 0;
  }
  return out.subarray(0, n);
}

const hex2 = (value: number) => value.toString(16).padStart(2, "0");

/** `avc1.PPCCLL` from the SPS in an H.264 access unit, or undefined if it has none. */
export function h264CodecString(accessUnit: Uint8Array): string | undefined {
  for (const nal of annexBNalUnits(accessUnit)) {
    if ((nal[0]! & 0x1f) === 7 && nal.length >= 4) return `avc1.${hex2(nal[1]!)}${hex2(nal[2]!)}${hex2(nal[3]!)}`;
  }
  return undefined;
}

/** `hvc1.P.C.TL.B…` (ISO/IEC 14496-15 E.3) from the SPS in an HEVC access unit. */
export function hevcCodecString(accessUnit: Uint8Array): string | undefined {
  for (const nal of annexBNalUnits(accessUnit)) {
    if (nal.length < 2 || ((nal[0]! >> 1) & 0x3f) !== 33) continue;
    // After the 2-byte NAL header: 4 bits vps id, 3 bits max_sub_layers, 1 bit temporal nesting,
    // then profile_tier_level: 2 space, 1 tier, 5 idc, 32 compat flags, 48 constraint bits, 8 level.
    const b = rbsp(nal.subarray(2));
    if (b.length < 13) return undefined;
    const space = b[1]! >> 6;
    const tier = (b[1]! >> 5) & 1;
    const idc = b[1]! & 0x1f;
    const compat = ((b[2]! << 24) | (b[3]! << 16) | (b[4]! << 8) | b[5]!) >>> 0;
    // The compatibility flags are written bit-reversed.
    let reversed = 0;
    for (let bit = 0; bit < 32; bit++) if (compat & (1 << bit)) reversed |= 1 << (31 - bit);
    const constraints = [...b.subarray(6, 12)];
    while (constraints.length > 0 && constraints.at(-1) === 0) constraints.pop();
    const level = b[12]!;
    const prefix = ["", "A", "B", "C"][space]!;
    return [`hvc1`, `${prefix}${idc}`, (reversed >>> 0).toString(16), `${tier ? "H" : "L"}${level}`, ...constraints.map((c) => c.toString(16).toUpperCase())].join(".");
  }
  return undefined;
}

/** `av01.P.LLT.DD` from an AV1 sequence header OBU in a temporal unit (low-overhead format). */
export function av1CodecString(temporalUnit: Uint8Array): string | undefined {
  let i = 0;
  while (i < temporalUnit.length) {
    const header = temporalUnit[i]!;
    const type = (header >> 3) & 0xf;
    const hasExtension = (header >> 2) & 1;
    const hasSize = (header >> 1) & 1;
    let p = i + 1 + hasExtension;
    let size = temporalUnit.length - p;
    if (hasSize) {
      size = 0;
      for (let k = 0; k < 8; k++) {
        const byte = temporalUnit[p++]!;
        size |= (byte & 0x7f) << (7 * k);
        if (!(byte & 0x80)) break;
      }
    }
    if (type === 1 && size >= 3) {
      // seq_profile (3), still_picture (1), reduced_still_picture_header (1), then (not reduced)
      // timing_info_present (1)… For the usual stream without timing info / operating points:
      // initial_display_delay_present (1), operating_points_cnt_minus_1 (5), idc (12), level (5), tier.
      const bits = new BitReader(temporalUnit.subarray(p, p + size));
      const profile = bits.read(3);
      bits.read(1);
      const reduced = bits.read(1);
      let level = 8;
      let tier = 0;
      if (reduced) level = bits.read(5);
      else {
        const timing = bits.read(1);
        if (timing) return `av01.${profile}.08M.08`;
        const delay = bits.read(1);
        const count = bits.read(5) + 1;
        bits.read(12);
        level = bits.read(5);
        if (level > 7) tier = bits.read(1);
        // Only the first operating point is read (its delay fields come after; not needed here).
        void delay;
        void count;
      }
      return `av01.${profile}.${String(level).padStart(2, "0")}${tier ? "H" : "M"}.08`;
    }
    i = p + size;
  }
  return undefined;
}

/** Reads bits most significant first. */
export class BitReader {
  #bit = 0;
  constructor(readonly bytes: Uint8Array) {}
  read(n: number): number {
    let value = 0;
    for (let k = 0; k < n; k++) {
      const byte = this.bytes[this.#bit >> 3] ?? 0;
      value = (value << 1) | ((byte >> (7 - (this.#bit & 7))) & 1);
      this.#bit++;
    }
    return value;
  }
}

/**
 * The codec strings to try, best first: the one read from the stream, then common fallbacks (a
 * decoder that supports a higher level decodes a lower one). `bitDepth` comes from the stream info
 * (the negotiated format): the AV1 string read here does not parse that far into the header.
 */
export function codecCandidates(codec: "h264" | "hevc" | "av1", keyframe: Uint8Array, profileLevelId?: string, bitDepth: 8 | 10 = 8): string[] {
  const out: string[] = [];
  if (codec === "h264") {
    const fromSps = h264CodecString(keyframe);
    if (fromSps) out.push(fromSps);
    if (profileLevelId && /^[0-9a-f]{6}$/i.test(profileLevelId)) out.push(`avc1.${profileLevelId.toLowerCase()}`);
    out.push("avc1.640034", "avc1.4d0034", "avc1.42e034");
  } else if (codec === "hevc") {
    const fromSps = hevcCodecString(keyframe);
    if (fromSps) out.push(fromSps);
    if (bitDepth === 10) out.push("hvc1.2.4.L153.B0", "hev1.2.4.L153.B0");
    out.push("hvc1.1.6.L153.B0", "hev1.1.6.L153.B0", "hvc1.2.4.L153.B0");
  } else {
    const fromHeader = av1CodecString(keyframe);
    if (bitDepth === 10) {
      if (fromHeader) out.push(fromHeader.replace(/\.08$/, ".10"));
      out.push("av01.0.13M.10", "av01.0.08M.10");
    }
    if (fromHeader) out.push(fromHeader);
    out.push("av01.0.13M.08", "av01.0.08M.08", "av01.0.13M.10");
  }
  return [...new Set(out)];
}
