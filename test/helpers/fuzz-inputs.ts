import fc from 'fast-check';

/**
 * Input generators shared by the fuzz tests: byte-level mutations of real samples (a mutated camera
 * clip reaches far deeper into a parser than random bytes, which rarely get past its first check),
 * arbitrary chunkings of a stream, and structure-aware mutations of JSON messages and bodies.
 * Everything is a fast-check arbitrary, so failures shrink to a small input.
 */

// ---- bytes --------------------------------------------------------------------------------------

type ByteMutation =
  | { op: 'flip'; at: number; bit: number }
  | { op: 'set'; at: number; value: number }
  | { op: 'insert'; at: number; bytes: Uint8Array }
  | { op: 'delete'; at: number; length: number }
  | { op: 'duplicate'; from: number; at: number; length: number }
  | { op: 'truncate'; at: number };

/** Bytes that mean something to H.264 and ADTS parsers: start codes, NAL headers, syncwords, escapes. */
const MEDIA_TOKENS: readonly Uint8Array[] = [
  [0, 0, 1],
  [0, 0, 0, 1],
  [0, 0, 0],
  [0, 0, 3],
  [0, 0, 1, 0x65],
  [0, 0, 1, 0x41],
  [0, 0, 1, 0x67],
  [0, 0, 1, 0x68],
  [0, 0, 1, 0x06],
  [0, 0, 1, 0x09, 0xf0],
  [0, 0, 1, 0x0e],
  [0xff, 0xf1],
  [0xff, 0xf9],
  [0xff, 0xf1, 0x50, 0x80, 0x1f, 0xff, 0xfc],
  [0xff, 0xff, 0xff, 0xff],
  [0x80, 0, 0, 0],
].map((t) => Uint8Array.from(t));

const position = fc.nat({ max: 1 << 24 });

function byteMutation(tokens: readonly Uint8Array[]): fc.Arbitrary<ByteMutation> {
  const inserted = fc.oneof(
    ...(tokens.length > 0 ? [fc.constantFrom(...tokens)] : []),
    fc.uint8Array({ minLength: 1, maxLength: 16 }),
  );
  return fc.oneof(
    fc.record({ op: fc.constant('flip' as const), at: position, bit: fc.nat({ max: 7 }) }),
    fc.record({ op: fc.constant('set' as const), at: position, value: fc.constantFrom(0, 1, 3, 0x7f, 0x80, 0xff).chain((v) => fc.oneof(fc.constant(v), fc.nat({ max: 255 }))) }),
    fc.record({ op: fc.constant('insert' as const), at: position, bytes: inserted }),
    fc.record({ op: fc.constant('delete' as const), at: position, length: fc.integer({ min: 1, max: 64 }) }),
    fc.record({ op: fc.constant('duplicate' as const), from: position, at: position, length: fc.integer({ min: 1, max: 256 }) }),
    fc.record({ op: fc.constant('truncate' as const), at: position }),
  );
}

/** Applies mutations in order; positions wrap modulo the current length, so any position is valid. */
function applyByteMutations(source: Uint8Array, mutations: readonly ByteMutation[]): Uint8Array {
  // A copy as a plain Uint8Array: Buffer#slice is a view, and mutating it would change the sample.
  let data: Uint8Array = new Uint8Array(source);
  for (const m of mutations) {
    const n = data.length;
    switch (m.op) {
      case 'flip':
        if (n > 0) data[m.at % n]! ^= 1 << m.bit;
        break;
      case 'set':
        if (n > 0) data[m.at % n] = m.value;
        break;
      case 'insert': {
        const at = m.at % (n + 1);
        const out = new Uint8Array(n + m.bytes.length);
        out.set(data.subarray(0, at));
        out.set(m.bytes, at);
        out.set(data.subarray(at), at + m.bytes.length);
        data = out;
        break;
      }
      case 'delete': {
        if (n === 0) break;
        const at = m.at % n;
        const out = new Uint8Array(n - Math.min(m.length, n - at));
        out.set(data.subarray(0, at));
        out.set(data.subarray(at + m.length), at);
        data = out;
        break;
      }
      case 'duplicate': {
        if (n === 0) break;
        const from = m.from % n;
        const piece = data.slice(from, from + m.length);
        data = applyByteMutations(data, [{ op: 'insert', at: m.at, bytes: piece }]);
        break;
      }
      case 'truncate':
        data = data.slice(0, m.at % (n + 1));
        break;
    }
  }
  return data;
}

export interface MutatedBytesOptions {
  /** byte strings worth inserting (default: MEDIA_TOKENS) */
  tokens?: readonly Uint8Array[];
  /** at most this many mutations per input (default 6) */
  maxMutations?: number;
}

/** One of `samples`, mutated 0..maxMutations times. */
export function mutatedBytes(samples: readonly Uint8Array[], options: MutatedBytesOptions = {}): fc.Arbitrary<Uint8Array> {
  if (samples.length === 0) throw new Error('mutatedBytes needs at least one sample');
  return fc
    .record({
      sample: fc.nat({ max: samples.length - 1 }),
      mutations: fc.array(byteMutation(options.tokens ?? MEDIA_TOKENS), { maxLength: options.maxMutations ?? 6 }),
    })
    .map(({ sample, mutations }) => applyByteMutations(samples[sample]!, mutations));
}

/**
 * Random bytes biased towards what the media parsers branch on (0x00, 0x01, 0x03, 0xFF, 0xF1):
 * uniform bytes almost never form a start code or a syncword.
 */
export function skewedBytes(maxLength: number): fc.Arbitrary<Uint8Array> {
  const byte = fc.oneof(
    { weight: 4, arbitrary: fc.constantFrom(0, 0, 0, 1, 3, 0xff, 0xf1, 0x65, 0x67, 0x41) },
    { weight: 3, arbitrary: fc.nat({ max: 255 }) },
  );
  return fc.array(byte, { maxLength }).map((bytes) => Uint8Array.from(bytes));
}

/** Chunk sizes, used in turn over a stream: mostly tiny (splits inside start codes and headers) or large. */
export const chunkSizes: fc.Arbitrary<number[]> = fc.array(
  fc.oneof(fc.integer({ min: 1, max: 8 }), fc.integer({ min: 1, max: 64 }), fc.integer({ min: 1, max: 8192 })),
  { minLength: 1, maxLength: 32 },
);

/** Cuts `data` into views of the given sizes, cycling through them. */
export function cut(data: Uint8Array, sizes: readonly number[]): Uint8Array[] {
  const chunks: Uint8Array[] = [];
  for (let o = 0, i = 0; o < data.length; i++) {
    const n = Math.max(1, sizes[i % sizes.length]!);
    chunks.push(data.subarray(o, o + n));
    o += n;
  }
  return chunks;
}

export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

export const sameBytes = (a: Uint8Array, b: Uint8Array): boolean =>
  a.length === b.length && Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));

// ---- JSON ---------------------------------------------------------------------------------------

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** Values that trip validators: wrong types, limits, huge and odd numbers, odd strings, nesting. */
const interestingJson: fc.Arbitrary<Json> = fc.constantFrom<Json>(
  null,
  true,
  false,
  0,
  -1,
  0.5,
  2 ** 31,
  2 ** 32,
  2 ** 32 - 1,
  2 ** 53,
  -(2 ** 53),
  1e308,
  -1e-308,
  '',
  ' ',
  'x'.repeat(5000),
  '\u0000',
  '\ud800',
  '<script>',
  '../../etc/passwd',
  [],
  {},
  [[[[[]]]]],
  { type: 'hello' },
  { type: 'ack', sequence: 0 },
);

const anyJson: fc.Arbitrary<Json> = fc.oneof(
  { weight: 2, arbitrary: interestingJson },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3 }) as fc.Arbitrary<Json> },
);

/** Keys an attacker would try, plus random ones. */
const anyKey = fc.oneof(fc.constantFrom('__proto__', 'constructor', 'prototype', 'type', 'toString', ''), fc.string({ maxLength: 12 }));

type JsonMutation =
  | { op: 'replace'; at: number; value: Json }
  | { op: 'delete'; at: number }
  | { op: 'add'; at: number; key: string; value: Json }
  | { op: 'wrap'; at: number };

const jsonMutation: fc.Arbitrary<JsonMutation> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ op: fc.constant('replace' as const), at: position, value: anyJson }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('delete' as const), at: position }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('add' as const), at: position, key: anyKey, value: anyJson }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('wrap' as const), at: position }) },
);

/** Every (container, key) slot in the value, depth first; the root is slot 0 (container undefined). */
function slots(value: Json): Array<{ parent: Json[] | { [key: string]: Json } | undefined; key: string | number }> {
  const out: Array<{ parent: Json[] | { [key: string]: Json } | undefined; key: string | number }> = [{ parent: undefined, key: 0 }];
  const walk = (v: Json) => {
    if (Array.isArray(v)) {
      v.forEach((child, i) => {
        out.push({ parent: v, key: i });
        walk(child);
      });
    } else if (v !== null && typeof v === 'object') {
      for (const key of Object.keys(v)) {
        out.push({ parent: v, key });
        walk(v[key]!);
      }
    }
  };
  walk(value);
  return out;
}

function applyJsonMutations(source: Json, mutations: readonly JsonMutation[]): Json {
  let root: Json = structuredClone(source);
  for (const m of mutations) {
    const all = slots(root);
    const slot = all[m.at % all.length]!;
    const get = (): Json => (slot.parent === undefined ? root : (slot.parent as Record<string | number, Json>)[slot.key]!);
    const set = (v: Json) => {
      if (slot.parent === undefined) root = v;
      else if (Array.isArray(slot.parent)) slot.parent[slot.key as number] = v;
      // defineProperty: a key named __proto__ becomes an own property, as JSON.parse makes it.
      else Object.defineProperty(slot.parent, slot.key, { value: v, enumerable: true, writable: true, configurable: true });
    };
    switch (m.op) {
      case 'replace':
        set(structuredClone(m.value));
        break;
      case 'delete':
        if (Array.isArray(slot.parent)) slot.parent.splice(slot.key as number, 1);
        else if (slot.parent !== undefined) delete slot.parent[slot.key as string];
        break;
      case 'add': {
        const target = get();
        if (target !== null && typeof target === 'object' && !Array.isArray(target)) {
          Object.defineProperty(target, m.key, { value: structuredClone(m.value), enumerable: true, writable: true, configurable: true });
        } else if (Array.isArray(target)) target.push(structuredClone(m.value));
        break;
      }
      case 'wrap':
        set([get()]);
        break;
    }
  }
  return root;
}

type TextMutation =
  | { op: 'truncate'; at: number }
  | { op: 'insert'; at: number; text: string }
  | { op: 'number'; nth: number; text: string }
  | { op: 'duplicateKey'; text: string };

const textMutation: fc.Arbitrary<TextMutation> = fc.oneof(
  fc.record({ op: fc.constant('truncate' as const), at: position }),
  fc.record({
    op: fc.constant('insert' as const),
    at: position,
    text: fc.oneof(fc.constantFrom('"', ',', '{', '}', '[', ']', ':', '\\', '\\u', '\u0000', '\ud800', 'null'), fc.string({ maxLength: 8 })),
  }),
  // JSON.parse turns 1e400 into Infinity and -0 into -0: values JSON.stringify never writes.
  fc.record({ op: fc.constant('number' as const), nth: fc.nat({ max: 8 }), text: fc.constantFrom('1e400', '-1e400', '-0', '1e-400', '0.1e1', '4294967296', '9007199254740993') }),
  // A repeated key: JSON.parse keeps the last, other parsers the first.
  fc.record({ op: fc.constant('duplicateKey' as const), text: fc.constantFrom('"type":"stats",', '"type":"hello",', '"type":"ack",', '"sequence":-1,', '"name":"",') }),
);

function applyTextMutation(text: string, m: TextMutation): string {
  switch (m.op) {
    case 'truncate':
      return text.slice(0, m.at % (text.length + 1));
    case 'insert': {
      const at = m.at % (text.length + 1);
      return text.slice(0, at) + m.text + text.slice(at);
    }
    case 'number': {
      let seen = 0;
      return text.replace(/-?\d+(\.\d+)?([eE][+-]?\d+)?/g, (match) => (seen++ === m.nth ? m.text : match));
    }
    case 'duplicateKey':
      return text.startsWith('{') ? `{${m.text}${text.slice(1)}` : text;
  }
}

/** Deeply nested JSON: within a 64 KiB message, thousands of levels. */
const nestedJson = fc.integer({ min: 1, max: 20_000 }).chain((depth) =>
  fc.constantFrom('['.repeat(depth) + ']'.repeat(depth), '{"a":'.repeat(depth) + '1' + '}'.repeat(depth), `{"type":"hello","settings":${'['.repeat(depth)}${']'.repeat(depth)}}`),
);

/**
 * Text messages derived from valid examples: structure-aware mutations (replace, delete, add, wrap at
 * any node), then at most one text-level mutation; plus random JSON, random strings and deep nesting.
 */
export function jsonTextMutants(examples: readonly unknown[]): fc.Arbitrary<string> {
  const mutated = fc
    .record({
      example: fc.nat({ max: examples.length - 1 }),
      mutations: fc.array(jsonMutation, { maxLength: 4 }),
      text: fc.option(textMutation, { freq: 3 }),
    })
    .map(({ example, mutations, text }) => {
      const json = JSON.stringify(applyJsonMutations(examples[example] as Json, mutations));
      return text === null ? json : applyTextMutation(json, text);
    });
  return fc.oneof(
    { weight: 6, arbitrary: mutated },
    { weight: 1, arbitrary: fc.json({ maxDepth: 4 }) },
    { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 200 }) },
    { weight: 1, arbitrary: nestedJson },
  );
}
