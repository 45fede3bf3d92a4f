import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createLogger, formatLine } from './logger.ts';

function capture(): { lines: string[]; write: (s: string) => void } {
  const lines: string[] = [];
  return { lines, write: (s: string) => void lines.push(s) };
}

test('JSON records, credential redacted wherever it appears', () => {
  const out = capture();
  const log = createLogger('info', out);
  log.info({ credential: 'abc', config: { credential: 'def', relay: 'https://r' } }, 'loaded');
  log.debug('hidden at info');
  assert.equal(out.lines.length, 1);
  const record = JSON.parse(out.lines[0] ?? '{}') as Record<string, unknown>;
  assert.equal(record.msg, 'loaded');
  assert.equal(record.credential, '[redacted]');
  assert.deepEqual(record.config, { credential: '[redacted]', relay: 'https://r' });
  assert.ok(!(out.lines[0] ?? '').includes('abc'));
});

test('the terminal formatter prints time, level, message and fields', () => {
  const line = formatLine(JSON.stringify({ level: 40, time: Date.UTC(2025, 0, 1, 12, 0, 1, 234), msg: 'camera stalled', pid: 1, restarts: 2 }));
  assert.equal(line, '12:00:01.234 WARN  camera stalled restarts=2\n');
  assert.equal(formatLine('not json'), 'not json\n');
});
