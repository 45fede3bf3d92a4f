import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PaintMethodChoice, SAMPLES, SLOW_DRAW_MS } from '../src/player/paint-method.ts';

const paint = (choice: PaintMethodChoice, ms: number, times = SAMPLES) => {
  for (let i = 0; i < times; i++) choice.sample(ms);
};

test('paint method: a cheap drawImage (a GPU-composited browser) is kept for good', () => {
  const choice = new PaintMethodChoice(true);
  paint(choice, 0.4);
  assert.equal(choice.current, 'draw');
  paint(choice, 40, SAMPLES * 3);
  assert.equal(choice.current, 'draw', 'settled: a later slow stretch (a busy machine) does not reopen the choice');
});

test('paint method: a slow drawImage (Chromium without a GPU, ~18 ms a 720p picture) moves to copyTo + putImageData, which stays when cheaper', () => {
  const choice = new PaintMethodChoice(true);
  paint(choice, 18, SAMPLES - 1);
  assert.equal(choice.current, 'draw', 'not before SAMPLES pictures');
  choice.sample(18);
  assert.equal(choice.current, 'copy');
  assert.equal(choice.drawCostMs, 18);
  paint(choice, 1.2);
  assert.equal(choice.current, 'copy');
  paint(choice, 30, SAMPLES * 2);
  assert.equal(choice.current, 'copy', 'settled');
});

test('paint method: the median decides, so one slow picture among cheap ones does not switch', () => {
  const choice = new PaintMethodChoice(true);
  for (let i = 0; i < SAMPLES; i++) choice.sample(i === 3 ? 300 : 1);
  assert.equal(choice.current, 'draw');
  const slow = new PaintMethodChoice(true);
  for (let i = 0; i < SAMPLES; i++) slow.sample(i === 3 ? 0.5 : SLOW_DRAW_MS + 10);
  assert.equal(slow.current, 'copy');
});

test('paint method: a copy that costs more than the draw goes back to drawing, for good', () => {
  const choice = new PaintMethodChoice(true);
  paint(choice, 8);
  assert.equal(choice.current, 'copy');
  paint(choice, 12);
  assert.equal(choice.current, 'draw');
  paint(choice, 50);
  assert.equal(choice.current, 'draw');
});

test('paint method: without copyTo, or once copyTo refuses the conversion, it draws', () => {
  const none = new PaintMethodChoice(false);
  paint(none, 25);
  assert.equal(none.current, 'draw');
  const refused = new PaintMethodChoice(true);
  paint(refused, 25);
  assert.equal(refused.current, 'copy');
  refused.copyFailed();
  assert.equal(refused.current, 'draw');
  paint(refused, 25, SAMPLES * 2);
  assert.equal(refused.current, 'draw');
});
