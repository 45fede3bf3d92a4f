import assert from 'node:assert/strict';
import { test } from 'node:test';
import { explainMisses } from './misses.ts';
import type { Row } from './table.ts';

const row = (figure: string, verdict: Row['verdict']): Row => ({ figure, value: 'v', target: 't', floor: '-', ratio: '-', verdict });

test('every kind of row a full run has missed points to its own explanation, not the fallback', () => {
  const missed = [
    'fan-out 50 cams x 10 viewers: latency p50 / p99',
    'fan-out 1 cam x 500 viewers: server CPU (% of one core)',
    'agent 1080p30 8.3 Mbit/s: agent CPU per minute of video',
    'browser WebCodecs 1080p: first picture after page open',
    'browser jmuxer 720p: first picture after page open',
    'browser jmuxer 1080p: at live edge within 1 s',
    'browser WebCodecs 720p: latency p50',
  ];
  const text = explainMisses(missed.map((figure) => row(figure, 'FAIL')));
  assert.match(text, /^Missed \(7\):/);
  for (const figure of missed) assert.ok(text.includes(`- ${figure}: v (target t)`), figure);
  assert.doesNotMatch(text, /Left to do/, 'no miss falls through to the generic pointer');
  assert.match(text, /jmuxer \(MSE\) first picture/, 'jmuxer rows get the MSE explanation, not the WebCodecs one');
});

test('rows that passed or are context only are not listed; nothing missed is an empty string', () => {
  assert.equal(explainMisses([row('fan-out 1 cam x 500 viewers: server CPU (% of one core)', 'PASS'), row('browser old page 720p: latency p50', 'info')]), '');
  assert.match(explainMisses([row('something new', 'FAIL')]), /Left to do/);
});
