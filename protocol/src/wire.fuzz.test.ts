import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  FRAME_HEADER_BYTES,
  Track,
  decodeFrame,
  encodeFrame,
  readFrameHeader,
  setCatchUpFlag,
  type FrameHeader,
} from './frame-header.ts';
import {
  DEFAULT_CAMERA_SETTINGS,
  MAX_FRAMERATE,
  agentMessageSchema,
  encodeMessage,
  parseMessage,
  relayToAgentMessageSchema,
  relayToViewerMessageSchema,
  viewerMessageSchema,
  type AgentMessage,
  type CameraSettings,
  type RelayToAgentMessage,
  type RelayToViewerMessage,
  type ViewerMessage,
} from './messages.ts';
import { ProtocolError } from './errors.ts';
import { announceSeed, checkProperty, fuzzTimeoutMs, parsesOrRefuses } from '../../test/helpers/fuzz-config.ts';
import { jsonTextMutants, mutatedBytes, sameBytes } from '../../test/helpers/fuzz-inputs.ts';

/**
 * Fuzzing the wire format's two parsers of network input: the 16-byte frame header (every binary
 * message on both hops) and the JSON control messages (every text message). Either they return a
 * value or throw ProtocolError; what they accept survives re-encoding unchanged.
 */

announceSeed(import.meta.url);
const isProtocolError = (err: unknown): boolean => err instanceof ProtocolError;
const timeout = fuzzTimeoutMs(60_000);

// ---- frame header -------------------------------------------------------------------------------

const headerArb: fc.Arbitrary<FrameHeader> = fc.record({
  track: fc.constantFrom(Track.Video, Track.Audio),
  keyframe: fc.boolean(),
  catchUp: fc.boolean(),
  backfill: fc.boolean(),
  sequence: fc.nat({ max: 0xffff_ffff }),
  // A double holds microseconds exactly up to 2^53, which the header documents (year 2255).
  captureTimeUs: fc.oneof(fc.maxSafeNat(), fc.constant(Date.UTC(2030, 0, 1) * 1000)),
});
const payloadArb = fc.uint8Array({ minLength: 1, maxLength: 64 });

test('frame header: encode then decode gives back every field and the payload', { timeout }, async (t) => {
  await checkProperty(
    t,
    'frame header round trip',
    fc.property(headerArb, payloadArb, (header, payload) => {
      const message = encodeFrame(header, payload);
      assert.equal(message.length, FRAME_HEADER_BYTES + payload.length);
      const decoded = decodeFrame(message);
      assert.deepEqual(decoded.header, { ...header });
      assert.ok(sameBytes(decoded.payload, payload));
      // The relay flips the catch-up bit in place on cached frames: nothing else may change.
      setCatchUpFlag(message, !header.catchUp);
      assert.deepEqual(readFrameHeader(message), { ...header, catchUp: !header.catchUp });
    }),
    2000,
  );
});

// Valid frames, then mutated: most mutants keep a plausible header, so every check is reached.
const validFrames = fc.sample(fc.tuple(headerArb, payloadArb), { seed: 18, numRuns: 50 }).map(([h, p]) => encodeFrame(h, p));
const frameBytes = fc.oneof(
  mutatedBytes(validFrames, { tokens: [Uint8Array.of(1), Uint8Array.of(2), Uint8Array.of(0), Uint8Array.of(0xff)] }),
  fc.uint8Array({ maxLength: 40 }),
);

test('frame header: any bytes decode to a canonical frame or a ProtocolError', { timeout }, async (t) => {
  await checkProperty(
    t,
    'decodeFrame',
    fc.property(frameBytes, fc.option(fc.nat({ max: 64 })), (bytes, cap) => {
      const result = parsesOrRefuses('decodeFrame', bytes, () => decodeFrame(bytes, cap ?? undefined), isProtocolError);
      if (!result.ok) return;
      const { header, payload } = result.value;
      assert.ok(payload.length >= 1 && (cap === null || payload.length <= cap), 'payload within bounds');
      assert.ok(header.sequence >= 0 && header.sequence <= 0xffff_ffff && header.captureTimeUs >= 0 && Number.isSafeInteger(header.captureTimeUs));
      // Accepted means canonical: writing the header back gives the same bytes (no ignored bits,
      // no capture time rounded).
      const again = encodeFrame(header, payload);
      assert.ok(sameBytes(again, bytes), 're-encoding reproduces the message');
    }),
    5000,
  );
});

// ---- JSON control messages -------------------------------------------------------------------

const settingsArb: fc.Arbitrary<CameraSettings> = fc.record({
  width: fc.integer({ min: 64, max: 4096 }),
  height: fc.integer({ min: 64, max: 4096 }),
  framerate: fc.double({ min: 1, max: 120, noNaN: true }),
  bitrate: fc.integer({ min: 50_000, max: 50_000_000 }),
  intra: fc.integer({ min: 1, max: 600 }),
  profile: fc.constantFrom('baseline' as const, 'main' as const, 'high' as const),
  rotation: fc.constantFrom(0 as const, 180 as const),
  hflip: fc.boolean(),
  vflip: fc.boolean(),
  onDemand: fc.boolean(),
});
const positiveInt = fc.integer({ min: 1, max: 2 ** 31 });
const videoArb = fc.record({
  codec: fc.string({ minLength: 1, maxLength: 64 }),
  width: positiveInt,
  height: positiveInt,
  framerate: fc.double({ min: Number.MIN_VALUE, max: MAX_FRAMERATE, noNaN: true }),
});
const audioArb = fc.record({ codec: fc.constant('mp4a.40.2' as const), sampleRate: positiveInt, channels: fc.integer({ min: 1, max: 8 }) });
const statusArb = fc.constantFrom('starting' as const, 'running' as const, 'restarting' as const, 'stalled' as const, 'idle' as const, 'failed' as const);
const count = fc.maxSafeNat();

const agentArb: fc.Arbitrary<AgentMessage> = fc.oneof(
  fc.record(
    {
      type: fc.constant('hello' as const),
      agentVersion: fc.string({ maxLength: 64 }),
      settings: settingsArb,
      video: fc.option(videoArb),
      audio: fc.option(audioArb),
      model: fc.string({ maxLength: 128 }),
      cameraCommand: fc.string({ maxLength: 256 }),
    },
    { requiredKeys: ['type', 'agentVersion', 'settings', 'video', 'audio'] },
  ),
  fc.record({
    type: fc.constant('stats' as const),
    camera: statusArb,
    audio: fc.option(statusArb),
    framesCaptured: count,
    framesSent: count,
    framesDropped: count,
    tornFrames: count,
    cameraRestarts: count,
    queueBytes: count,
    uptimeSeconds: fc.double({ min: 0, max: 1e12, noNaN: true }),
    lastError: fc.option(fc.string({ maxLength: 1024 })),
  }),
);
const viewerArb: fc.Arbitrary<ViewerMessage> = fc.record({ type: fc.constant('ack' as const), sequence: fc.nat({ max: 0xffff_ffff }) });
const relayToAgentArb: fc.Arbitrary<RelayToAgentMessage> = fc.oneof(
  fc.record({ type: fc.constant('settings' as const), settings: settingsArb }),
  fc.record({ type: fc.constant('demand' as const), viewers: count }),
);
const relayToViewerArb: fc.Arbitrary<RelayToViewerMessage> = fc.oneof(
  fc.record({ type: fc.constant('init' as const), camera: fc.record({ id: fc.string(), name: fc.string() }), video: videoArb, audio: fc.option(audioArb) }),
  fc.record({ type: fc.constant('state' as const), state: fc.constantFrom('online' as const, 'offline' as const), reason: fc.string({ maxLength: 256 }) }, { requiredKeys: ['type', 'state'] }),
  fc.record({ type: fc.constant('expiring' as const), expiresAt: fc.double({ noNaN: true, noDefaultInfinity: true }) }),
);

/** Every schema read off a socket, with its valid-message generator. */
const SCHEMAS = [
  // relay reads these from agents and viewers; the agent and the player read the other two
  { name: 'agent -> relay', parse: (text: string): unknown => parseMessage(agentMessageSchema, text), valid: agentArb as fc.Arbitrary<unknown> },
  { name: 'viewer -> relay', parse: (text: string): unknown => parseMessage(viewerMessageSchema, text), valid: viewerArb as fc.Arbitrary<unknown> },
  { name: 'relay -> agent', parse: (text: string): unknown => parseMessage(relayToAgentMessageSchema, text), valid: relayToAgentArb as fc.Arbitrary<unknown> },
  { name: 'relay -> viewer', parse: (text: string): unknown => parseMessage(relayToViewerMessageSchema, text), valid: relayToViewerArb as fc.Arbitrary<unknown> },
];

for (const { name, parse, valid } of SCHEMAS) {
  test(`messages ${name}: every valid message survives encode and parse unchanged`, { timeout }, async (t) => {
    await checkProperty(
      t,
      `${name} round trip`,
      fc.property(valid, (message) => {
        // -0 is written as 0 by JSON: compare what the wire carries.
        const text = encodeMessage(message as AgentMessage);
        assert.equal(JSON.stringify(parse(text)), JSON.stringify(JSON.parse(text)));
      }),
      300,
    );
  });

  const examples = fc.sample(valid, { seed: 18, numRuns: 20 }).concat([{ type: 'hello', settings: DEFAULT_CAMERA_SETTINGS }]);
  test(`messages ${name}: mutated and random text parses or fails with ProtocolError`, { timeout }, async (t) => {
    await checkProperty(
      t,
      `${name} parse`,
      fc.property(jsonTextMutants(examples), (text) => {
        const result = parsesOrRefuses(`parseMessage(${name})`, text, () => parse(text), isProtocolError);
        assert.equal(Object.keys(Object.prototype).length, 0, 'Object.prototype untouched');
        if (!result.ok) {
          const err = result.error as ProtocolError;
          assert.ok(err.code === 'ERR_MESSAGE_JSON' || err.code === 'ERR_MESSAGE_INVALID', err.code);
          assert.ok(err.message.length < 2000, 'the reason stays short (it goes into close frames and logs)');
          return;
        }
        // What was accepted is a message this side understands, and re-encoding it is stable.
        const again = parse(JSON.stringify(result.value));
        assert.equal(JSON.stringify(again), JSON.stringify(result.value));
      }),
      1000,
    );
  });
}
