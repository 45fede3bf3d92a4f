import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { CloseCode, closeReason } from '@picam/protocol';
import { MAX_TEXT_BYTES, ingestFrame, ingestText, rejectionOf } from './agent-ingest.ts';
import { announceSeed, checkProperty, fuzzTimeoutMs, guarded } from '../../../test/helpers/fuzz-config.ts';
import { AGENT_TEXT_EXAMPLES, agentFrameMessages, sampleAudioFrames, sampleVideoUnits } from '../../../test/helpers/fuzz-frames.ts';
import { jsonTextMutants } from '../../../test/helpers/fuzz-inputs.ts';

/**
 * Fuzzing what the relay does with every agent message before anything else sees it: the frame
 * header, the start-code check, the keyframe scan and SPS parse (video), the ADTS header (audio),
 * and the JSON messages. Each input is accepted or refused with an error carrying its close code;
 * anything else would be logged as a relay bug and close with 1011.
 */

announceSeed(import.meta.url);
const timeout = fuzzTimeoutMs(60_000);
const CLOSE_CODES = new Set<number>(Object.values(CloseCode));

const frameMessages = agentFrameMessages(sampleVideoUnits(), sampleAudioFrames()).map((b) => Buffer.from(b.buffer, b.byteOffset, b.byteLength));

/** Accepts the outcome of one ingest call: a result, or an error the connection maps to a close. */
function refusedCleanly(err: unknown, binary: boolean): void {
  const rejection = rejectionOf(err, binary);
  assert.ok(rejection, `no close code for ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}`);
  assert.ok(CLOSE_CODES.has(rejection.closeCode), `close code ${rejection.closeCode}`);
  // ws.close() throws on a reason over 123 bytes: the connection trims it with closeReason().
  assert.ok(Buffer.byteLength(closeReason((err as Error).message)) <= 123);
}

test('agent frames: mutated video and audio frames are accepted or refused with a close code', { timeout }, async (t) => {
  let accepted = 0;
  let withFormat = 0;
  const runs = await checkProperty(
    t,
    'ingestFrame',
    fc.property(frameMessages, (message) => {
      let result: ReturnType<typeof ingestFrame>;
      try {
        result = guarded('ingestFrame', message, () => ingestFrame(message));
      } catch (err) {
        refusedCleanly(err, true);
        return;
      }
      accepted++;
      assert.equal(result.frame.message, message, 'the message itself is forwarded, not a copy');
      if (result.sps) {
        withFormat++;
        assert.ok(result.sps.width > 0 && result.sps.height > 0 && /^avc1\.[0-9a-f]{6}$/.test(result.sps.codec), 'format');
      }
    }),
    2000,
  );
  t.diagnostic(`ingestFrame: ${accepted} of ${runs} accepted, ${withFormat} keyframes with a format`);
});

const textMessages = fc.oneof(
  { weight: 8, arbitrary: jsonTextMutants(AGENT_TEXT_EXAMPLES).map((text) => Buffer.from(text)) },
  // Not UTF-8, and over the text limit.
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b)) },
  { weight: 1, arbitrary: fc.integer({ min: MAX_TEXT_BYTES - 2, max: MAX_TEXT_BYTES + 2 }).map((n) => Buffer.alloc(n, 0x20)) },
);

test('agent text: mutated hello and stats messages are accepted or refused with a close code', { timeout }, async (t) => {
  await checkProperty(
    t,
    'ingestText',
    fc.property(textMessages, (data) => {
      let message: ReturnType<typeof ingestText>;
      try {
        message = guarded('ingestText', data, () => ingestText(data));
      } catch (err) {
        refusedCleanly(err, false);
        return;
      }
      assert.ok(message.type === 'hello' || message.type === 'stats');
      assert.ok(data.byteLength <= MAX_TEXT_BYTES);
    }),
    1000,
  );
});
