import { ProtocolError } from '../errors.ts';

/**
 * MSB-first bit reader over an RBSP (emulation-prevention bytes already removed), with the
 * Exp-Golomb codes of H.264 9.1. Reading past the end throws ProtocolError('ERR_SPS_INVALID'):
 * a truncated parameter set is the only way that happens, and callers must never see a RangeError.
 */
export class BitReader {
  private readonly bytes: Uint8Array;
  private pos = 0; // in bits

  constructor(rbsp: Uint8Array) {
    this.bytes = rbsp;
  }

  /** Bits not read yet. */
  get bitsLeft(): number {
    return this.bytes.length * 8 - this.pos;
  }

  readBit(): number {
    if (this.pos >= this.bytes.length * 8) this.pastEnd(1);
    const bit = (this.bytes[this.pos >> 3]! >> (7 - (this.pos & 7))) & 1;
    this.pos++;
    return bit;
  }

  readFlag(): boolean {
    return this.readBit() === 1;
  }

  /** u(n) for n in 0..32, as a non-negative number (no sign trouble at n = 32: no bitwise result). */
  readBits(n: number): number {
    if (!Number.isInteger(n) || n < 0 || n > 32) {
      throw new ProtocolError('ERR_SPS_INVALID', `cannot read ${n} bits at once`);
    }
    if (n > this.bitsLeft) this.pastEnd(n);
    let value = 0;
    for (let i = 0; i < n; i++) value = value * 2 + this.readBit();
    return value;
  }

  skip(n: number): void {
    if (n > this.bitsLeft) this.pastEnd(n);
    this.pos += n;
  }

  /** ue(v). Values need at most 32 leading zeros in a conforming stream (max 2^32 - 2). */
  readUe(): number {
    let leadingZeros = 0;
    while (this.readBit() === 0) {
      leadingZeros++;
      if (leadingZeros > 31) {
        throw new ProtocolError('ERR_SPS_INVALID', 'Exp-Golomb code longer than 32 bits');
      }
    }
    return 2 ** leadingZeros - 1 + this.readBits(leadingZeros);
  }

  /** se(v): 1, -1, 2, -2, ... from ue 1, 2, 3, 4, ... (9.1.1). */
  readSe(): number {
    const k = this.readUe();
    return k % 2 === 1 ? (k + 1) / 2 : 0 - k / 2; // 0 - 0 is +0, unlike -(0)
  }

  private pastEnd(wanted: number): never {
    throw new ProtocolError(
      'ERR_SPS_INVALID',
      `truncated: wanted ${wanted} more bit(s) at bit ${this.pos} of ${this.bytes.length * 8}`,
    );
  }
}
