import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Page } from 'playwright-core';
import { ADMIN_PASSWORD, expectLiveVideo, launchBrowser, screenshot, startRelayWithWeb, step, whatTheUserSaw } from './helpers/browser.ts';
import { api, startStreamingCamera } from './helpers/camera-setup.ts';

/**
 * Recordings in the web app, in a real Chromium against the real relay CLI recording a real agent
 * that streams the fake camera: the admin turns recording on in the camera's settings, the camera
 * page's timeline draws what was recorded (with thumbnails decoded in the page), a click plays that
 * moment from clip.mp4 with its wall-clock time, "Back to live" brings the live player back (and so
 * does reaching the end of what is recorded), a drag
 * chooses a clip and "Share this clip" makes a link that a logged-out phone plays. On a phone (and
 * in the dark theme) the bar takes a finger drag and the page never scrolls sideways.
 * Screenshots: test-artifacts/e2e-rec-*.png.
 */

const DESKTOP = { viewport: { width: 1280, height: 800 } };
const PHONE = { viewport: { width: 390, height: 844 }, deviceScaleFactor: 3, isMobile: true, hasTouch: true };

/** What the clip <video> on the page is doing. */
function clipVideo(page: Page) {
  return page.evaluate(() => {
    const v = document.querySelector<HTMLVideoElement>('[data-testid="clip-video"]');
    const player = document.querySelector<HTMLElement>('[data-testid="clip-player"]');
    return v
      ? { currentTime: v.currentTime, videoWidth: v.videoWidth, videoHeight: v.videoHeight, paused: v.paused, error: v.error?.code ?? null, wallTime: Number(player?.dataset.wallTime ?? NaN) }
      : null;
  });
}

/** Waits until the clip video shows pictures and its time advances (not just a first frame). */
async function expectClipPlaying(page: Page, timeoutMs = 30_000): Promise<{ currentTime: number; videoWidth: number; wallTime: number }> {
  await page.waitForFunction(
    () => {
      const v = document.querySelector<HTMLVideoElement>('[data-testid="clip-video"]');
      return v !== null && v.videoWidth > 0 && v.currentTime > 0 && !v.paused;
    },
    null,
    { timeout: timeoutMs, polling: 100 },
  );
  const before = (await clipVideo(page))!;
  await page.waitForFunction(
    (t) => (document.querySelector<HTMLVideoElement>('[data-testid="clip-video"]')?.currentTime ?? 0) > t + 0.5,
    before.currentTime,
    { timeout: 10_000, polling: 100 },
  );
  const after = (await clipVideo(page))!;
  assert.equal(after.error, null, 'no media error');
  return after;
}

/** The recorded spans the timeline draws, from the page. */
function drawnSpans(page: Page): Promise<{ start: number; end: number }[]> {
  return page.$$eval('[data-testid="timeline-span"]', (els) => els.map((el) => ({ start: Number((el as HTMLElement).dataset.start), end: Number((el as HTMLElement).dataset.end) })));
}

/** A finger drag along the timeline (Chromium's own touch input, so touch-action and pointer capture are real). */
async function fingerDrag(page: Page, fromX: number, toX: number, y: number): Promise<void> {
  const cdp = await page.context().newCDPSession(page);
  const at = (x: number) => [{ x: Math.round(x), y: Math.round(y), id: 1 }];
  await cdp.send('Input.dispatchTouchEvent', { type: 'touchStart', touchPoints: at(fromX) });
  for (let i = 1; i <= 8; i++) await cdp.send('Input.dispatchTouchEvent', { type: 'touchMove', touchPoints: at(fromX + ((toX - fromX) * i) / 8) });
  await cdp.send('Input.dispatchTouchEvent', { type: 'touchEnd', touchPoints: [] });
  await cdp.detach();
}

async function logIn(page: Page, url: string): Promise<void> {
  await page.goto(`${url}/login`);
  await page.getByTestId('login-username').fill('admin');
  await page.getByTestId('login-password').fill(ADMIN_PASSWORD);
  await page.getByTestId('login-submit').click();
  await page.getByTestId('page-cameras').waitFor();
}

test('recordings: record, timeline, play a moment, back to live, share a clip, on a phone', { timeout: 300_000 }, async (t) => {
  const browser = await launchBrowser(t);
  if (!browser) return;
  const relay = await startRelayWithWeb(t);
  const login = await api(relay, 'POST', '/api/auth/login', { username: 'admin', password: ADMIN_PASSWORD });
  assert.equal(login.status, 200, 'admin login');
  const token = login.json.token as string;
  const { id: cameraId } = await startStreamingCamera(t, relay, token, { name: 'Driveway', audio: false });

  const admin = await browser.newContext(DESKTOP);
  const page = await admin.newPage();
  const consoleErrors: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') consoleErrors.push(m.text());
  });
  page.on('pageerror', (err) => consoleErrors.push(`uncaught: ${err.message}`));
  // Thumbnails are short clips (from..to under a second): how many the page loads at once.
  const thumbnailRequests = { open: 0, most: 0, total: 0 };
  const isThumbnail = (url: string) => {
    const u = new URL(url);
    return u.pathname.endsWith('/recordings/clip.mp4') && Number(u.searchParams.get('to')) - Number(u.searchParams.get('from')) < 1000;
  };
  page.on('request', (r) => {
    if (!isThumbnail(r.url())) return;
    thumbnailRequests.total++;
    thumbnailRequests.most = Math.max(thumbnailRequests.most, ++thumbnailRequests.open);
  });
  const settled = (r: { url(): string }) => {
    if (isThumbnail(r.url())) thumbnailRequests.open--;
  };
  page.on('requestfinished', settled);
  page.on('requestfailed', settled);
  await logIn(page, relay.url);

  await step(page, 'the admin turns recording on in the camera settings', async () => {
    await page.goto(`${relay.url}/admin/cameras?camera=${cameraId}`);
    await page.getByTestId('settings-form').waitFor();
    assert.equal(await page.getByTestId('settings-record').inputValue(), 'off', 'RECORD_DEFAULT is off');
    await page.getByTestId('settings-record').selectOption('continuous');
    await page.getByTestId('settings-save').click();
    await page.getByTestId('settings-message').filter({ hasText: /Saved/ }).waitFor();
    const camera = await api(relay, 'GET', `/api/cameras/${cameraId}`, undefined, token);
    assert.equal(camera.json.camera.record, 'continuous', 'the relay has the setting');
  });

  const spans = await step(page, 'the camera page shows a timeline with the recorded span and thumbnails', async () => {
    await page.goto(`${relay.url}/cameras/${cameraId}`);
    await expectLiveVideo(page, { cameraId, timeoutMs: 30_000 });
    await page.getByTestId('recordings').waitFor();
    await page.getByTestId('timeline-zoom-1h').check();
    // The bar refreshes itself; a span of 10 s or more shows once that much is recorded.
    await page.waitForFunction(
      () => [...document.querySelectorAll<HTMLElement>('[data-testid="timeline-span"]')].some((el) => Number(el.dataset.end) - Number(el.dataset.start) >= 10_000),
      null,
      { timeout: 60_000, polling: 250 },
    );
    const drawn = await drawnSpans(page);
    const direct = await api(relay, 'GET', `/api/cameras/${cameraId}/recordings?from=${Date.now() - 3_600_000}&to=${Date.now()}`, undefined, token);
    assert.equal(direct.status, 200);
    assert.ok(direct.json.spans.length >= 1, 'the API lists the recording too');
    assert.ok(Math.abs(drawn[0]!.start - direct.json.spans[0].start) < 1000, 'the bar draws the span the API lists');
    await page.getByTestId('timeline-track').scrollIntoViewIfNeeded();
    await page.locator('[data-testid="timeline-thumb"][data-loaded="true"]').first().waitFor({ timeout: 30_000 });
    assert.ok(thumbnailRequests.total >= 1, 'the thumbnails came from short clips');
    assert.ok(thumbnailRequests.most <= 2, `at most 2 thumbnail clips load at once (${thumbnailRequests.most} did)`);
    process.stderr.write(`thumbnail clip requests: ${thumbnailRequests.total}, at most ${thumbnailRequests.most} at once\n`);
    await screenshot(page, 'e2e-rec-01-timeline-1280');
    return drawn;
  });

  await step(page, 'a click on the span plays that moment, with its wall-clock time, in the live player\'s place', async () => {
    const span = spans[spans.length - 1]!;
    await page.getByTestId('timeline-track').scrollIntoViewIfNeeded();
    const box = (await page.locator('[data-testid="timeline-span"]').last().boundingBox())!;
    // Early in the span: playback runs on to the live edge and then goes live by itself.
    await page.mouse.click(box.x + box.width * 0.1, box.y + box.height / 2);
    await page.getByTestId('clip-player').waitFor();
    assert.equal(await page.getByTestId('player').count(), 0, 'the live player stood aside (its stream closed)');
    const playing = await expectClipPlaying(page);
    assert.ok(playing.videoWidth > 0, 'pictures decoded');
    assert.ok(playing.wallTime >= span.start - 5000 && playing.wallTime <= Date.now(), `the shown time ${new Date(playing.wallTime).toISOString()} is in the recording`);
    // The clock on screen is the recording's own: the clip's time 0 is where the relay says the clip
    // starts (the keyframe at or before the moment), and playback began at the moment chosen, not there.
    const shown = await page.evaluate(() => ({
      src: document.querySelector<HTMLVideoElement>('[data-testid="clip-video"]')!.currentSrc,
      clipStart: Number(document.querySelector<HTMLElement>('[data-testid="clip-player"]')!.dataset.clipStart),
      chosen: Number(document.querySelector<HTMLElement>('[data-testid="timeline-selection"]')!.dataset.start),
    }));
    const head = await fetch(shown.src, { method: 'HEAD', headers: { authorization: `Bearer ${token}` } });
    assert.equal(head.status, 200);
    assert.equal(shown.clipStart, Number(head.headers.get('x-clip-start')), 'the page puts the clip where the relay says it starts');
    assert.ok(shown.clipStart <= shown.chosen, 'a clip starts at or before the moment chosen');
    assert.ok(playing.wallTime >= shown.chosen, `playback began at the moment chosen (${playing.wallTime - shown.chosen} ms after it), not at the earlier keyframe`);
    assert.match(await page.getByTestId('clip-time').innerText(), /\d{1,2}:\d{2}:\d{2}/, 'the time is shown as a clock time');
    assert.equal(await page.getByTestId('timeline-playhead').isVisible(), true, 'the playhead is on the bar');
    await screenshot(page, 'e2e-rec-02-playing-1280');
  });

  await step(page, 'the arrow keys step the playhead back; a run of presses plays one clip', async () => {
    const heads: string[] = [];
    const onRequest = (r: { method(): string; url(): string }) => {
      if (r.method() === 'HEAD' && r.url().includes('/recordings/clip.mp4?')) heads.push(r.url());
    };
    page.on('request', onRequest);
    const before = await page.evaluate(() => Number(document.querySelector<HTMLElement>('[data-testid="clip-player"]')!.dataset.wallTime));
    await page.getByTestId('timeline-track').focus();
    // Three presses in one task in the page: inside its settle time whatever the machine's load.
    await page.evaluate(() => {
      const track = document.querySelector<HTMLElement>('[data-testid="timeline-track"]')!;
      for (let i = 0; i < 3; i++) track.dispatchEvent(new KeyboardEvent('keydown', { key: 'ArrowLeft', bubbles: true }));
    });
    // Each press is a minute on the 1 h bar: playback goes back 3 minutes, or to where the recording starts.
    await page.waitForFunction((t) => Number(document.querySelector<HTMLElement>('[data-testid="clip-player"]')?.dataset.wallTime) < t - 500, before, { timeout: 15_000 });
    await expectClipPlaying(page);
    page.off('request', onRequest);
    assert.equal(heads.length, 1, `one clip for three presses (the page asked for ${heads.length})`);
  });

  await step(page, '"Back to live" brings the live player back', async () => {
    await page.getByTestId('back-to-live').click();
    await page.getByTestId('clip-player').waitFor({ state: 'hidden' });
    await expectLiveVideo(page, { cameraId, timeoutMs: 30_000 });
  });

  await step(page, 'playing the last seconds of the recording goes on to live by itself', async () => {
    const box = (await page.locator('[data-testid="timeline-span"]').last().boundingBox())!;
    await page.mouse.click(box.x + box.width - 1, box.y + box.height / 2);
    await page.getByTestId('clip-player').waitFor();
    await expectClipPlaying(page);
    // The clip ends at the newest recorded moment; what comes next is the live picture.
    await page.getByTestId('clip-player').waitFor({ state: 'hidden', timeout: 30_000 });
    await expectLiveVideo(page, { cameraId, timeoutMs: 30_000 });
  });

  const shareUrl = await step(page, 'a drag across the bar chooses a clip and "Share this clip" makes a link', async () => {
    await page.getByTestId('timeline-track').scrollIntoViewIfNeeded();
    const track = (await page.getByTestId('timeline-track').boundingBox())!;
    const span = (await page.locator('[data-testid="timeline-span"]').last().boundingBox())!;
    const y = track.y + track.height / 2;
    await page.mouse.move(Math.max(track.x + 2, span.x - 40), y);
    await page.mouse.down();
    await page.mouse.move(span.x + span.width / 2, y, { steps: 6 });
    await page.mouse.move(track.x + track.width - 2, y, { steps: 6 });
    await page.mouse.up();
    await page.getByTestId('clip-selection').filter({ hasText: /^Clip: / }).waitFor();
    await expectClipPlaying(page);
    await page.getByTestId('clip-share-create').click();
    const url = (await page.getByTestId('clip-share-url').innerText()).trim();
    assert.match(url, /\/s\/[\w-]+#\S+$/);
    const shares = await api(relay, 'GET', `/api/cameras/${cameraId}/shares`, undefined, token);
    const clip = shares.json.shares[0].clip as { start: number; end: number } | null;
    assert.ok(clip && clip.end > clip.start, 'the link is for a recorded range, not live');
    assert.ok(clip.start >= spans[0]!.start - 1000, 'the clip starts where the recording does, not in the unrecorded time the drag began on');
    await screenshot(page, 'e2e-rec-03-clip-share-1280');
    return url;
  });

  await step(page, 'the camera\'s share links list the clip link as a clip', async () => {
    await page.goto(`${relay.url}/admin/cameras/${cameraId}/shares`);
    await page.getByTestId('share-row').first().getByTestId('share-clip').filter({ hasText: /^clip \d{1,2}:\d{2}:\d{2} – / }).waitFor();
  });

  const guest = await browser.newContext({ ...PHONE, colorScheme: 'dark' });
  const guestPage = await guest.newPage();
  await step(guestPage, 'the clip link plays on a logged-out phone', async () => {
    await guestPage.goto(shareUrl);
    await guestPage.getByTestId('shared-clip').waitFor({ timeout: 15_000 });
    const playing = await expectClipPlaying(guestPage);
    assert.ok(playing.videoWidth > 0);
    assert.equal((await guest.cookies()).length, 0, 'no session cookie: the share token alone did it');
    assert.equal(await guestPage.getByTestId('player').count(), 0, 'a clip link shows no live picture');
    await screenshot(guestPage, 'e2e-rec-04-clip-share-phone-dark');
  });

  const phone = await browser.newContext({ ...PHONE, colorScheme: 'dark' });
  const phonePage = await phone.newPage();
  await step(phonePage, 'on a phone (dark theme) the timeline fits, takes a finger drag, and plays', async () => {
    await logIn(phonePage, relay.url);
    await phonePage.goto(`${relay.url}/cameras/${cameraId}`);
    await phonePage.getByTestId('timeline-span').first().waitFor({ timeout: 30_000 });
    const layout = await phonePage.evaluate(() => {
      const track = document.querySelector<HTMLElement>('[data-testid="timeline-track"]')!;
      const [r, g, b] = getComputedStyle(track).backgroundColor.match(/\d+/g)!.map(Number);
      return { overflows: document.documentElement.scrollWidth > window.innerWidth, trackRight: track.getBoundingClientRect().right, luma: (r! + g! + b!) / 3 };
    });
    assert.equal(layout.overflows, false, 'no sideways scrolling of the page');
    assert.ok(layout.trackRight <= 390, `the bar ends inside the screen (${layout.trackRight} px)`);
    assert.ok(layout.luma < 80, `the bar is dark in the dark theme (mean channel ${layout.luma})`);
    // No zoom chosen on this phone: a recording minutes old opens at the last hour, where it is a
    // finger's width of a 372 px bar rather than a sliver of 6 h.
    assert.equal(await phonePage.getByTestId('timeline-zoom-1h').isChecked(), true, 'the bar opened at the zoom that shows the recording');
    await phonePage.getByTestId('timeline-track').scrollIntoViewIfNeeded();
    const track = (await phonePage.getByTestId('timeline-track').boundingBox())!;
    const y = track.y + track.height / 2;
    await fingerDrag(phonePage, track.x + track.width * 0.2, track.x + track.width - 1, y);
    await phonePage.getByTestId('clip-selection').filter({ hasText: /^Clip: / }).waitFor({ timeout: 5000 });
    await expectClipPlaying(phonePage);
    assert.equal(await phonePage.evaluate(() => document.documentElement.scrollWidth > window.innerWidth), false, 'still no sideways scrolling while playing');
    await screenshot(phonePage, 'e2e-rec-05-playing-phone-dark');
    await phonePage.getByTestId('back-to-live').click();
    await expectLiveVideo(phonePage, { cameraId, timeoutMs: 30_000 });
  });

  assert.deepEqual(
    consoleErrors.filter((e) => !/Failed to load resource: the server responded with a status of 40[19]/.test(e)),
    [],
    `the browser console reported errors:\n${consoleErrors.join('\n')}\n${await whatTheUserSaw(page)}`,
  );
});
