/**
 * Shared by the video and audio planes (this folder has no port): their forward error correction.
 *
 * Systematic Reed–Solomon erasure code over GF(2⁸) as GameStream uses it (reference §5.4, §6.4).
 *
 * Field: polynomial x⁸+x⁴+x³+x²+1 (0x11D), generator 2. A code with D data and P parity shards
 * has the generator matrix [I_D ; M] where M is P×D. Video uses the Cauchy matrix
 * M[j][i] = 1 / ((P + i) XOR j) (the construction of the nanors library that Sunshine, Wolf and
 * moonlight-common-c link); audio uses a fixed 2×4 matrix because NVIDIA hosts send that one.
 *
 * Shards may be shorter than the block size: missing bytes count as zero, exactly as if the
 * shard had been zero-extended (the real client zero-extends short datagrams before decoding).
 * Nothing here allocates per call once a code object exists, except the lazily grown scratch.
 */

/** Raised for impossible code parameters (never on the receive path: callers validate first). */
export class ReedSolomonParameterError extends Error {
  override name = "ReedSolomonParameterError";
}

/** D + P may not exceed this (the field has 255 usable evaluation points). */
export const RS_MAX_TOTAL_SHARDS = 255;

const GF_POLYNOMIAL = 0x11d;

/** GF_EXP[i] = 2^i, doubled in length so that EXP[log a + log b] needs no modulo. */
export const GF_EXP = new Uint8Array(512);
/** GF_LOG[a] for a ≠ 0 (GF_LOG[0] is unused). */
export const GF_LOG = new Uint8Array(256);
/** GF_INV[a] = a⁻¹ for a ≠ 0. */
export const GF_INV = new Uint8Array(256);
/**
 * Full multiplication table: GF_MUL[(a << 8) | b] = a·b. 64 KiB; a row `subarray(a << 8, …)` is
 * the lookup table used by the shard loops (one load per byte, no branches).
 */
export const GF_MUL = new Uint8Array(65536);

{
  let x = 1;
  for (let i = 0; i < 255; i++) {
    GF_EXP[i] = x;
    GF_LOG[x] = i;
    x <<= 1;
    if (x & 0x100) x ^= GF_POLYNOMIAL;
  }
  for (let i = 255; i < 512; i++) GF_EXP[i] = GF_EXP[i - 255]!;
  for (let a = 1; a < 256; a++) {
    GF_INV[a] = GF_EXP[255 - GF_LOG[a]!]!;
    const logA = GF_LOG[a]!;
    for (let b = 1; b < 256; b++) GF_MUL[(a << 8) | b] = GF_EXP[logA + GF_LOG[b]!]!;
  }
}

export function gfMul(a: number, b: number): number {
  return GF_MUL[((a & 0xff) << 8) | (b & 0xff)]!;
}

export function gfInv(a: number): number {
  if (a === 0) throw new ReedSolomonParameterError("0 has no inverse in GF(256)");
  return GF_INV[a]!;
}

/** The nanors/GameStream Cauchy parity matrix, P rows of D coefficients, row-major. */
export function cauchyParityMatrix(dataShards: number, parityShards: number): Uint8Array {
  checkGeometry(dataShards, parityShards);
  const m = new Uint8Array(parityShards * dataShards);
  for (let j = 0; j < parityShards; j++) {
    for (let i = 0; i < dataShards; i++) m[j * dataShards + i] = GF_INV[(parityShards + i) ^ j]!;
  }
  return m;
}

/** Audio FEC matrix (§6.4): OpenFEC's coefficients, what NVIDIA hosts and Sunshine/Wolf send. */
export const AUDIO_PARITY_MATRIX: Uint8Array = Uint8Array.of(0x77, 0x40, 0x38, 0x0e, 0xc7, 0xa7, 0x0d, 0x6c);

function checkGeometry(dataShards: number, parityShards: number): void {
  if (
    !Number.isInteger(dataShards) ||
    !Number.isInteger(parityShards) ||
    dataShards < 1 ||
    parityShards < 1 ||
    dataShards + parityShards > RS_MAX_TOTAL_SHARDS
  ) {
    throw new ReedSolomonParameterError(`invalid Reed-Solomon geometry ${dataShards}+${parityShards}`);
  }
}

/** dst[0..n) ^= c · src[0..n) */
function mulAdd(dst: Uint8Array, src: Uint8Array, c: number, n: number): void {
  if (c === 0) return;
  if (c === 1) {
    for (let i = 0; i < n; i++) dst[i]! ^= src[i]!;
    return;
  }
  const row = c << 8;
  const mul = GF_MUL;
  for (let i = 0; i < n; i++) dst[i]! ^= mul[row | src[i]!]!;
}

/**
 * One (D, P) code. Instances are immutable apart from private scratch space, so the cached ones
 * from {@link ReedSolomon.forVideo} can be shared by everything on the same thread.
 */
export class ReedSolomon {
  readonly dataShards: number;
  readonly parityShards: number;
  /** P×D parity coefficients, row-major. */
  readonly parityMatrix: Uint8Array;

  // Scratch for decode: the g×g system and the g×(D) decode coefficients.
  #system = new Uint8Array(0);
  #inverse = new Uint8Array(0);
  #coefficients = new Uint8Array(0);
  readonly #missing: Int32Array;
  readonly #parityRows: Int32Array;

  constructor(dataShards: number, parityShards: number, parityMatrix?: Uint8Array) {
    checkGeometry(dataShards, parityShards);
    if (parityMatrix && parityMatrix.length !== dataShards * parityShards) {
      throw new ReedSolomonParameterError(`parity matrix must be ${parityShards}×${dataShards}`);
    }
    this.dataShards = dataShards;
    this.parityShards = parityShards;
    this.parityMatrix = parityMatrix ?? cauchyParityMatrix(dataShards, parityShards);
    this.#missing = new Int32Array(dataShards);
    this.#parityRows = new Int32Array(parityShards);
  }

  static readonly #videoCodes = new Map<number, ReedSolomon>();

  /** The video code for (D, P), built once per geometry and cached for the life of the process. */
  static forVideo(dataShards: number, parityShards: number): ReedSolomon {
    const key = dataShards * 256 + parityShards;
    let code = ReedSolomon.#videoCodes.get(key);
    if (!code) {
      code = new ReedSolomon(dataShards, parityShards);
      ReedSolomon.#videoCodes.set(key, code);
    }
    return code;
  }

  static #audio: ReedSolomon | undefined;

  /** The audio RS(4+2) code with its fixed matrix. */
  static forAudio(): ReedSolomon {
    return (ReedSolomon.#audio ??= new ReedSolomon(4, 2, AUDIO_PARITY_MATRIX));
  }

  /**
   * Computes every parity shard: parity[j][0..size) = ⊕ᵢ M[j][i]·data[i]. Data shards shorter than
   * `size` count as zero-extended; parity buffers must hold `size` bytes and are overwritten.
   */
  encode(data: ReadonlyArray<Uint8Array>, parity: ReadonlyArray<Uint8Array>, size: number): void {
    const d = this.dataShards;
    for (let j = 0; j < this.parityShards; j++) {
      const out = parity[j]!;
      out.fill(0, 0, size);
      const rowBase = j * d;
      for (let i = 0; i < d; i++) {
        const src = data[i]!;
        mulAdd(out, src, this.parityMatrix[rowBase + i]!, Math.min(size, src.length));
      }
    }
  }

  /**
   * Rebuilds the missing data shards.
   *
   * `shards[0..D+P)`: a received shard (any length ≤ size; absent bytes are zeros) or null when
   * missing. For every missing data index i, `output[i]` must be a buffer of ≥ `size` bytes; the
   * rebuilt shard is written to its first `size` bytes. Missing parity is never rebuilt.
   * Returns false (and writes nothing) when fewer than D shards are present.
   *
   * Method: with E the g missing data indices and R the first g received parity rows, solve the
   * g×g Cauchy subsystem A = M[R][E] once (Gauss–Jordan on g ≤ P tiny rows), fold A⁻¹ into one
   * coefficient per received shard, then each rebuilt shard is a single pass of multiply-adds over
   * D received shards. A square submatrix of a Cauchy matrix is always invertible; the audio
   * matrix is MDS too, so any D shards work for both.
   */
  decode(shards: ReadonlyArray<Uint8Array | null>, output: ReadonlyArray<Uint8Array | undefined>, size: number): boolean {
    const d = this.dataShards;
    const p = this.parityShards;
    const missing = this.#missing;
    const rows = this.#parityRows;
    let g = 0;
    for (let i = 0; i < d; i++) if (!shards[i]) missing[g++] = i;
    if (g === 0) return true;
    let r = 0;
    for (let j = 0; j < p && r < g; j++) if (shards[d + j]) rows[r++] = j;
    if (r < g) return false;

    const a = this.#ensureScratch(g);
    const m = this.parityMatrix;
    // A[k][l] = M[rows[k]][missing[l]]
    for (let k = 0; k < g; k++) {
      for (let l = 0; l < g; l++) a[k * g + l] = m[rows[k]! * d + missing[l]!]!;
    }
    if (!this.#invert(g)) return false; // cannot happen for an MDS matrix; defensive
    const inv = this.#inverse;

    // Decode coefficients, one row of D+P per missing shard:
    //   data_e[l] = Σ_k inv[l][k]·parity_{rows[k]} ⊕ Σ_{i received} (Σ_k inv[l][k]·M[rows[k]][i])·data_i
    const width = d + p;
    const coef = this.#coefficients;
    coef.fill(0, 0, g * width);
    for (let l = 0; l < g; l++) {
      const base = l * width;
      for (let k = 0; k < g; k++) {
        const c = inv[l * g + k]!;
        if (c === 0) continue;
        coef[base + d + rows[k]!] = c;
        const mRow = rows[k]! * d;
        const cRow = c << 8;
        for (let i = 0; i < d; i++) {
          if (!shards[i]) continue;
          coef[base + i]! ^= GF_MUL[cRow | m[mRow + i]!]!;
        }
      }
    }

    for (let l = 0; l < g; l++) {
      const out = output[missing[l]!];
      if (!out || out.length < size) throw new ReedSolomonParameterError("missing or short output buffer");
      out.fill(0, 0, size);
      const base = l * width;
      for (let s = 0; s < width; s++) {
        const c = coef[base + s]!;
        if (c === 0) continue;
        const src = shards[s]!;
        mulAdd(out, src, c, Math.min(size, src.length));
      }
    }
    return true;
  }

  #ensureScratch(g: number): Uint8Array {
    if (this.#system.length < g * g) {
      this.#system = new Uint8Array(g * g);
      this.#inverse = new Uint8Array(g * g);
    }
    const width = this.dataShards + this.parityShards;
    if (this.#coefficients.length < g * width) this.#coefficients = new Uint8Array(g * width);
    return this.#system;
  }

  /** Gauss–Jordan inverse of the g×g #system into #inverse (destroys #system). */
  #invert(g: number): boolean {
    const a = this.#system;
    const inv = this.#inverse;
    inv.fill(0, 0, g * g);
    for (let i = 0; i < g; i++) inv[i * g + i] = 1;
    for (let col = 0; col < g; col++) {
      let pivot = col;
      while (pivot < g && a[pivot * g + col] === 0) pivot++;
      if (pivot === g) return false;
      if (pivot !== col) {
        for (let k = 0; k < g; k++) {
          const t = a[col * g + k]!;
          a[col * g + k] = a[pivot * g + k]!;
          a[pivot * g + k] = t;
          const u = inv[col * g + k]!;
          inv[col * g + k] = inv[pivot * g + k]!;
          inv[pivot * g + k] = u;
        }
      }
      const scale = GF_INV[a[col * g + col]!]! << 8;
      for (let k = 0; k < g; k++) {
        a[col * g + k] = GF_MUL[scale | a[col * g + k]!]!;
        inv[col * g + k] = GF_MUL[scale | inv[col * g + k]!]!;
      }
      for (let row = 0; row < g; row++) {
        if (row === col) continue;
        const f = a[row * g + col]!;
        if (f === 0) continue;
        const fr = f << 8;
        for (let k = 0; k < g; k++) {
          a[row * g + k]! ^= GF_MUL[fr | a[col * g + k]!]!;
          inv[row * g + k]! ^= GF_MUL[fr | inv[col * g + k]!]!;
        }
      }
    }
    return true;
  }
}
