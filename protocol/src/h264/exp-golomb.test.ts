import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BitReader } from './exp-golomb.ts';
import { ProtocolError } from '../errors.ts';

test('readBits reads MSB first, up to 32 bits without sign trouble', () => {
  const r = new BitReader(Uint8Array.from([0b1010_1100, 0xff, 0xff, 0xff, 0xff]));
  assert.equal(r.readBits(1), 1);
  assert.equal(r.readBits(3), 0b010);
  assert.equal(r.readBits(4), 0b1100);
  assert.equal(r.readBits(32), 0xffffffff);
  assert.equal(r.bitsLeft, 0);
  assert.equal(r.readBits(0), 0);
});

test('readUe / readSe decode the 9.1 table', () => {
  // Bit string: 1 | 010 | 011 | 00100 | 00101 | 00110 | 00111 | 0001000 -> ue 0 1 2 3 4 5 6 7
  const bits = '1' + '010' + '011' + '00100' + '00101' + '00110' + '00111' + '0001000';
  const padded = bits.padEnd(Math.ceil(bits.length / 8) * 8, '1');
  const bytes = Uint8Array.from(padded.match(/.{8}/g)!.map((b) => parseInt(b, 2)));
  const ue = new BitReader(bytes);
  assert.deepEqual([0, 1, 2, 3, 4, 5, 6, 7].map(() => ue.readUe()), [0, 1, 2, 3, 4, 5, 6, 7]);
  const se = new BitReader(bytes);
  assert.deepEqual([0, 1, 2, 3, 4, 5, 6, 7].map(() => se.readSe()), [0, 1, -1, 2, -2, 3, -3, 4]);
});

test('readUe handles 32-bit codes (2^32 - 2) and rejects longer ones', () => {
  // 31 zeros, a one, 31 ones: 2^31 - 1 + 2^31 - 1 = 2^32 - 2.
  const bits = '0'.repeat(31) + '1' + '1'.repeat(31) + '1';
  const bytes = Uint8Array.from(bits.match(/.{8}/g)!.map((b) => parseInt(b, 2)));
  assert.equal(new BitReader(bytes).readUe(), 2 ** 32 - 2);
  assert.throws(() => new BitReader(new Uint8Array(8)).readUe(), (e) => e instanceof ProtocolError && e.code === 'ERR_SPS_INVALID');
});

test('reading or skipping past the end throws ProtocolError ERR_SPS_INVALID', () => {
  const isInvalid = (e: unknown): boolean => e instanceof ProtocolError && e.code === 'ERR_SPS_INVALID';
  assert.throws(() => new BitReader(new Uint8Array(0)).readBit(), isInvalid);
  assert.throws(() => new BitReader(new Uint8Array(1)).readBits(9), isInvalid);
  assert.throws(() => new BitReader(new Uint8Array(1)).skip(9), isInvalid);
  assert.throws(() => new BitReader(Uint8Array.from([0x00])).readUe(), isInvalid);
  assert.throws(() => new BitReader(new Uint8Array(8)).readBits(33), isInvalid);
  const r = new BitReader(Uint8Array.from([0xff]));
  r.skip(8);
  assert.throws(() => r.readFlag(), isInvalid);
});
