import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Page } from 'playwright-core';
import { ADMIN_PASSWORD, launchBrowser, screenshot, startRelayWithWeb, step, type RelayProcess } from './helpers/browser.ts';
import { api, startStreamingCamera } from './helpers/camera-setup.ts';

/**
 * The camera grid on a phone-sized screen, in a real (headless) Chromium: relay CLI + three real
 * agents streaming the fake camera (720p, a keyframe a second). Tiles in view play keyframes only
 * (one every 2 s: web/src/player/grid-tiles.ts); a tile scrolled off receives nothing (the relay
 * counts no viewer for it) and plays again when scrolled back; a tapped tile plays at full rate.
 */

/** A phone's width, and a height that fits one and a half tiles (three tiles do not fit). */
const PHONE = { width: 390, height: 560 };

interface TileStats {
  state: string;
  framesReceived: number;
  framesShown: number;
  lastFrameSequence: number;
}

function tileStats(page: Page, cameraId: string): Promise<TileStats | null> {
  return page.evaluate((id) => {
    const p = (window.__picam?.players ?? []).find((player) => player.root.dataset.cameraId === id);
    if (!p) return null;
    const s = p.stats();
    return { state: s.state, framesReceived: s.framesReceived, framesShown: s.framesShown, lastFrameSequence: s.lastFrameSequence };
  }, cameraId);
}

/** Frames a tile received and showed over `ms` (the page's own clock: sampled in it). */
async function rateOver(page: Page, cameraId: string, ms: number): Promise<{ received: number; shown: number; state: string }> {
  const before = (await tileStats(page, cameraId))!;
  await page.waitForTimeout(ms);
  const after = (await tileStats(page, cameraId))!;
  return { received: after.framesReceived - before.framesReceived, shown: after.framesShown - before.framesShown, state: after.state };
}

/** The relay's viewer count for a camera (its API's live status). */
async function relayViewers(relay: RelayProcess, token: string, cameraId: string): Promise<number> {
  const answer = await api(relay, 'GET', `/api/cameras/${cameraId}`, undefined, token);
  assert.equal(answer.status, 200, JSON.stringify(answer.json));
  return (answer.json.camera?.status?.viewers ?? answer.json.status?.viewers) as number;
}

async function waitForViewers(relay: RelayProcess, token: string, cameraId: string, count: number, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  let seen = -1;
  while (Date.now() < end) {
    seen = await relayViewers(relay, token, cameraId);
    if (seen === count) return;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`the relay counts ${seen} viewers of ${cameraId}, not ${count}`);
}

function waitForShown(page: Page, cameraId: string, atLeast: number, timeoutMs = 30_000): Promise<unknown> {
  return page.waitForFunction(
    ({ id, atLeast }) => {
      const p = (window.__picam?.players ?? []).find((player) => player.root.dataset.cameraId === id);
      return p !== undefined && p.stats().state === 'live' && p.stats().framesShown >= atLeast;
    },
    { id: cameraId, atLeast },
    { timeout: timeoutMs, polling: 100 },
  );
}

test('camera grid: keyframes in view, nothing off screen, full rate when tapped', { timeout: 150_000 }, async (t) => {
  const browser = await launchBrowser(t);
  if (!browser) return;
  const relay = await startRelayWithWeb(t);
  const login = await api(relay, 'POST', '/api/auth/login', { username: 'admin', password: ADMIN_PASSWORD });
  assert.equal(login.status, 200, JSON.stringify(login.json));
  const token = login.json.token as string;
  const cameras = [];
  for (const name of ['Alpha', 'Bravo', 'Charlie']) cameras.push(await startStreamingCamera(t, relay, token, { name, audio: false }));
  const [first, , last] = cameras.map((c) => c.id) as [string, string, string];

  const context = await browser.newContext({ viewport: PHONE, isMobile: true, hasTouch: true });
  const page = await context.newPage();
  const warnings: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'warning' || m.type() === 'error') warnings.push(`${((Date.now() % 600_000) / 1000).toFixed(1)} ${m.text()}`);
  });
  page.on('pageerror', (err) => warnings.push(`uncaught: ${err.message}`));
  t.after(() => {
    if (warnings.length > 0) t.diagnostic(`page warnings:\n${warnings.join('\n')}`);
  });
  await step(page, 'the user logs in and sees the grid', async () => {
    await page.goto(`${relay.url}/login`);
    await page.getByTestId('login-username').fill('admin');
    await page.getByTestId('login-password').fill(ADMIN_PASSWORD);
    await page.getByTestId('login-submit').click();
    await page.getByTestId('page-cameras').waitFor();
    await page.waitForFunction((n) => document.querySelectorAll('[data-testid="camera-tile"]').length === n, cameras.length);
  });

  await step(page, 'the first tile shows pictures at the keyframe rate; the last, below the fold, receives nothing', async () => {
    await waitForShown(page, first, 1);
    const joined = (await tileStats(page, first))!;
    assert.ok(joined.framesReceived <= 2, `a tile joins with a keyframe, not a GOP: ${joined.framesReceived} frames at its first picture`);
    // The 2 s interval over a 1 s GOP: a picture every ~2 s, so 2-4 frames in 6 s.
    const rate = await rateOver(page, first, 6000);
    assert.equal(rate.state, 'live');
    assert.ok(rate.received >= 2 && rate.received <= 4, `keyframes only: ${rate.received} frames received in 6 s`);
    assert.ok(rate.shown >= 2, `the tile's picture changes (${rate.shown} shown in 6 s)`);
    const below = (await tileStats(page, last))!;
    assert.equal(below.state, 'paused');
    assert.equal(below.framesReceived, 0, 'a tile never in view never connected');
    await waitForViewers(relay, token, last, 0);
    await screenshot(page, 'e2e-grid-01-phone-top');
  });

  await step(page, 'scrolled to the bottom: the first tile receives nothing, the last one plays', async () => {
    await page.evaluate(() => window.scrollTo(0, document.documentElement.scrollHeight));
    const firstBottom = await page.evaluate((id) => document.querySelector(`[data-testid="camera-tile"][data-camera-id="${id}"]`)!.getBoundingClientRect().bottom, first);
    assert.ok(firstBottom < 0, `the first tile is off screen (its bottom at ${firstBottom} px)`);
    await waitForShown(page, last, 1);
    await waitForViewers(relay, token, first, 0);
    const gone = await rateOver(page, first, 3000);
    assert.equal(gone.state, 'paused');
    assert.equal(gone.received, 0, 'nothing reaches a tile off screen');
  });

  await step(page, 'scrolled back up: the first tile plays again, from the live edge', async () => {
    const before = (await tileStats(page, first))!;
    await page.evaluate(() => window.scrollTo(0, 0));
    await waitForShown(page, first, before.framesShown + 1);
    await waitForViewers(relay, token, first, 1);
    await waitForViewers(relay, token, last, 0);
  });

  await step(page, 'a tapped tile plays at full rate within a GOP', async () => {
    const tile = page.locator(`[data-testid="camera-tile"][data-camera-id="${first}"] [data-testid="player"]`);
    const tapped = (await tileStats(page, first))!;
    await tile.tap();
    await page.waitForFunction((id) => document.querySelector(`[data-testid="player"][data-camera-id="${id}"]`)?.getAttribute('data-quality') === 'full', first);
    // Within one GOP (1 s at 30 fps): the rest of the cached GOP arrives at once, then every frame.
    // Keyframes only, 30 more frames would take a minute.
    await page.waitForFunction(
      ({ id, from }) => ((window.__picam?.players ?? []).find((p) => p.root.dataset.cameraId === id)?.stats().framesReceived ?? 0) >= from + 30,
      { id: first, from: tapped.framesReceived },
      { timeout: 10_000 },
    );
    const rate = await rateOver(page, first, 3000);
    t.diagnostic(`after the tap: ${rate.received} received, ${rate.shown} shown in 3 s`);
    // ~90 at 30 fps, where keyframes only would be 1-2. The relay sends them all; a 2-core machine
    // shared with the relay, three agents and other suites decodes fewer (28-54 shown seen).
    assert.ok(rate.received >= 60, `full rate after the tap: ${rate.received} frames received in 3 s`);
    assert.ok(rate.shown >= 15, `full rate after the tap: ${rate.shown} frames shown in 3 s`);
    await screenshot(page, 'e2e-grid-02-tapped');
  });
});
