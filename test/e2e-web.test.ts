import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Page } from 'playwright-core';
import { AgentProcess, TEST_TUNING } from './helpers/agent-process.ts';
import {
  ADMIN_PASSWORD,
  envWithFakeCameraOnPath,
  expectLiveVideo,
  launchBrowser,
  pictureHasContent,
  playerStats,
  screenshot,
  startRelayWithWeb,
  step,
  tempDir,
  whatTheUserSaw,
} from './helpers/browser.ts';

/**
 * The whole product as a person uses it, in a real Chromium against the real relay CLI and a real
 * agent process streaming the fake camera: log in, add a camera, enroll the Pi with the command the
 * page shows, watch it in the grid and full size (frames advancing, right size, on both decoding
 * paths), share it, open the link logged out, revoke it, see the link end. Screenshots of every page
 * land in test-artifacts/e2e-*.png; a failed step says what the user would have seen.
 */

const VIEWPORT = { width: 1280, height: 860 };

async function text(page: Page, testid: string): Promise<string> {
  return (await page.getByTestId(testid).first().innerText()).trim();
}

test('web app: log in, add and enroll a camera, watch, share, revoke', { timeout: 240_000 }, async (t) => {
  const browser = await launchBrowser(t);
  if (!browser) return;
  const relay = await startRelayWithWeb(t);
  const admin = await browser.newContext({ viewport: VIEWPORT });
  const page = await admin.newPage();
  const consoleErrors: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') consoleErrors.push(m.text());
  });
  page.on('pageerror', (err) => consoleErrors.push(`uncaught: ${err.message}`));

  await step(page, 'a visitor is sent to the login page', async () => {
    await page.goto(`${relay.url}/`);
    await page.waitForURL(/\/login\?next=%2F$/);
    await page.getByTestId('login-form').waitFor();
    await screenshot(page, 'e2e-01-login');
  });

  await step(page, 'a wrong password is refused with a message', async () => {
    await page.getByTestId('login-username').fill('admin');
    await page.getByTestId('login-password').fill('not-the-password');
    await page.getByTestId('login-submit').click();
    await page.getByTestId('login-error').filter({ hasText: /./ }).waitFor();
  });

  await step(page, 'the admin logs in and sees an empty camera grid', async () => {
    await page.getByTestId('login-password').fill(ADMIN_PASSWORD);
    await page.getByTestId('login-submit').click();
    await page.getByTestId('page-cameras').waitFor();
    await page.getByTestId('cameras-message').filter({ hasText: 'No cameras yet' }).waitFor();
  });

  const enrollCommand = await step(page, 'the admin adds a camera and gets its enrollment command', async () => {
    await page.getByTestId('nav-admin-cameras').click();
    await page.getByTestId('page-admin-cameras').waitFor();
    await page.getByTestId('add-camera-name').fill('Garden');
    await page.getByTestId('add-camera-submit').click();
    const command = await text(page, 'enroll-command');
    assert.match(command, /^picam-agent enroll --relay \S+ --token -$/);
    const token = await text(page, 'enroll-token');
    assert.match(token, /^[\w-]{43}$/);
    assert.match(await text(page, 'enroll-expiry'), /expires in/);
    await page.getByTestId('admin-camera').filter({ hasText: 'Garden' }).waitFor();
    await screenshot(page, 'e2e-02-admin-add-camera');
    return { command, token };
  });

  // The Pi: run exactly the command shown (picam-agent is edge-agent/src/cli.ts), the token pasted
  // on its standard input, then `run`.
  const configPath = join(tempDir(t, 'picam-e2e-agent-'), 'config.json');
  const [, , ...enrollArgs] = enrollCommand.command.split(/\s+/);
  const enroll = new AgentProcess(['enroll', ...enrollArgs, '--config', configPath], envWithFakeCameraOnPath(), {
    stdin: `${enrollCommand.token}\n`,
  });
  const enrolled = await enroll.exited;
  assert.equal(enrolled.code, 0, `the enrollment command shown on the page failed:\n${enroll.stderr.join('\n')}`);
  const agent = new AgentProcess(['run', '--config', configPath, '--tuning', TEST_TUNING], envWithFakeCameraOnPath());
  t.after(() => agent.stop());

  const cameraId = await step(page, 'the grid shows the camera live, with its status', async () => {
    await page.getByTestId('nav-cameras').click();
    const tile = page.getByTestId('camera-tile').filter({ hasText: 'Garden' });
    await tile.waitFor();
    const id = (await tile.getAttribute('data-camera-id'))!;
    // A tile shows keyframes only until it is clicked (test/e2e-grid.test.ts); clicked, it plays in full.
    await tile.getByTestId('player').click();
    const live = await expectLiveVideo(page, { cameraId: id, timeoutMs: 30_000 });
    // The agent's default request is 1280x720; the fake camera streams its 1280x720 clip.
    assert.equal(`${live.width}x${live.height}`, '1280x720', 'decoded picture size');
    assert.ok(await pictureHasContent(page, id), 'the tile shows a picture, not a blank');
    await tile.getByTestId('camera-status').filter({ hasText: 'online' }).waitFor({ timeout: 10_000 });
    await tile.getByTestId('fact-resolution').filter({ hasText: '1280×720' }).waitFor();
    await tile.getByTestId('fact-viewers').filter({ hasText: /[1-9] watching/ }).waitFor({ timeout: 10_000 });
    await screenshot(page, 'e2e-03-grid');
    return id;
  });

  await step(page, 'the camera page plays it full size with WebCodecs', async () => {
    await page.getByTestId('camera-tile-name').filter({ hasText: 'Garden' }).click();
    await page.getByTestId('page-camera').waitFor();
    await page.getByTestId('camera-name').filter({ hasText: 'Garden' }).waitFor();
    const live = await expectLiveVideo(page, { cameraId });
    assert.equal(live.path, 'webcodecs', 'headless Chromium has VideoDecoder: the low-latency path is used');
    assert.equal(`${live.width}x${live.height}`, '1280x720');
    assert.ok(await pictureHasContent(page, cameraId));
    assert.equal((await playerStats(page)).length, 1, 'the grid players were stopped when leaving the grid');
    await page.getByTestId('player-stats-toggle').click();
    await page.getByTestId('stat-latency').filter({ hasText: /\d+ ms/ }).waitFor();
    await screenshot(page, 'e2e-04-camera-webcodecs');
  });

  await step(page, 'the same page plays it through jmuxer/MSE with ?player=mse', async () => {
    const liveSockets: string[] = [];
    const onSocket = (ws: { url(): string }) => {
      if (ws.url().endsWith(`/api/cameras/${cameraId}/live`)) liveSockets.push(ws.url());
    };
    page.on('websocket', onSocket);
    await page.goto(`${relay.url}/cameras/${cameraId}?player=mse`);
    const live = await expectLiveVideo(page, { cameraId, minFrames: 5, timeoutMs: 30_000 });
    page.off('websocket', onSocket);
    assert.equal(live.path, 'mse');
    // The inline boot script opened it (a CSP refusal would be a console error, checked at the end)
    // and the player took it over rather than opening a second one.
    assert.equal(liveSockets.length, 1, `live sockets opened by the page: ${liveSockets.length}`);
    assert.equal(`${live.width}x${live.height}`, '1280x720');
    // At the live edge: what is buffered ahead of the playhead stays small.
    const ahead = await page.evaluate(() => {
      const v = document.querySelector('video')!;
      return v.buffered.length ? v.buffered.end(v.buffered.length - 1) - v.currentTime : -1;
    });
    assert.ok(ahead >= 0 && ahead < 1.0, `MSE playhead is ${ahead.toFixed(3)} s behind the buffered end`);
    await page.getByTestId('player-stats-toggle').click();
    await screenshot(page, 'e2e-05-camera-mse');
  });

  await step(page, 'the settings form shows the camera settings', async () => {
    await page.goto(`${relay.url}/admin/cameras?camera=${cameraId}`);
    await page.getByTestId('settings-form').waitFor();
    assert.equal(await page.getByTestId('settings-resolution').inputValue(), '1280x720');
    await screenshot(page, 'e2e-06-admin-settings');
  });

  const shareUrl = await step(page, 'the admin creates a one-hour share link', async () => {
    await page.goto(`${relay.url}/admin/cameras/${cameraId}/shares`);
    await page.getByTestId('page-shares').waitFor();
    await page.getByTestId('share-preset-3600').check();
    await page.getByTestId('share-label').fill('for the neighbours');
    await page.getByTestId('share-create').click();
    const url = await text(page, 'share-url');
    assert.match(url, new RegExp(`/s/[\\w-]+#\\S+$`));
    const row = page.getByTestId('share-row').filter({ hasText: 'for the neighbours' });
    await row.waitFor();
    assert.match(await row.getByTestId('share-time-left').innerText(), /^(59 min|1 h 00 min)/);
    await screenshot(page, 'e2e-07-shares');
    return url;
  });

  const guest = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
  const guestPage = await guest.newPage();
  await step(guestPage, 'a logged-out phone opens the link and sees the camera live', async () => {
    // Which script created each WebSocket: the inline boot script is document.currentScript while it runs.
    await guestPage.addInitScript({
      content: `{
        const Native = WebSocket;
        window.__sockets = [];
        window.WebSocket = class extends Native {
          constructor(...args) {
            super(...args);
            const script = document.currentScript;
            window.__sockets.push({ url: this.url, byBootScript: !!script && !script.src });
          }
        };
      }`,
    });
    await guestPage.goto(shareUrl);
    await guestPage.getByTestId('page-share').waitFor();
    await guestPage.getByTestId('share-camera-name').filter({ hasText: 'Garden' }).waitFor();
    assert.match(await text(guestPage, 'share-countdown'), /link valid for (59 min|1 h)/);
    const live = await expectLiveVideo(guestPage, { cameraId, timeoutMs: 30_000 });
    // The boot script opened it from the link's token, and the share page's player took it over.
    const sockets = await guestPage.evaluate(() => (window as unknown as { __sockets: Array<{ url: string; byBootScript: boolean }> }).__sockets);
    assert.deepEqual(
      sockets.filter((s) => s.url.endsWith(`/api/cameras/${cameraId}/live`)).map((s) => s.byBootScript),
      [true],
      `live sockets of the share page: ${JSON.stringify(sockets)}`,
    );
    assert.equal(`${live.width}x${live.height}`, '1280x720');
    assert.equal((await guest.cookies()).length, 0, 'no session cookie: the share token alone did it');
    await screenshot(guestPage, 'e2e-08-share-viewer-phone');
  });

  await step(page, 'the share list counts the guest and the admin revokes the link', async () => {
    const row = page.getByTestId('share-row').filter({ hasText: 'for the neighbours' });
    await row.filter({ hasText: '1 watching' }).waitFor({ timeout: 10_000 });
    await row.getByTestId('share-revoke').click();
    await page.getByTestId('confirm-ok').click();
    await page.getByTestId('share-row').filter({ hasText: 'for the neighbours' }).getByTestId('share-state').filter({ hasText: 'revoked' }).waitFor();
  });

  await step(guestPage, 'the guest sees at once that the link was revoked', async () => {
    await guestPage.getByTestId('share-ended').waitFor({ timeout: 5000 });
    assert.equal(await guestPage.getByTestId('share-ended').getAttribute('data-reason'), 'revoked');
    assert.match(await guestPage.locator('h1').innerText(), /This link was revoked/);
    assert.equal(await guestPage.evaluate(() => window.__picam?.players.length ?? 0), 0, 'the player is gone');
    await screenshot(guestPage, 'e2e-09-share-revoked');
    await guestPage.reload();
    await guestPage.getByTestId('share-ended').waitFor();
    assert.equal(await guestPage.getByTestId('share-ended').getAttribute('data-reason'), 'revoked');
  });

  await step(page, 'the users page lists the admin', async () => {
    await page.getByTestId('nav-admin-users').click();
    await page.getByTestId('user-row').filter({ hasText: 'admin' }).waitFor();
    await screenshot(page, 'e2e-10-users');
  });

  await step(page, 'logging out leads back to the login page', async () => {
    await page.getByTestId('nav-logout').click();
    await page.getByTestId('page-login').waitFor();
    await page.goto(`${relay.url}/admin/cameras`);
    await page.waitForURL(/\/login\?next=/);
  });

  assert.deepEqual(
    consoleErrors.filter((e) => !/Failed to load resource: the server responded with a status of 40[19]/.test(e)),
    [],
    `the browser console reported errors:\n${consoleErrors.join('\n')}\n${await whatTheUserSaw(page)}`,
  );
});

test('web app: the relay CLI itself serves the web app', async (t) => {
  const browser = await launchBrowser(t);
  if (!browser) return;
  const relay = await startRelayWithWeb(t);
  const page = await browser.newPage();
  const res = await page.goto(`${relay.url}/login`);
  assert.equal(res?.status(), 200);
  assert.match(res?.headers()['content-security-policy'] ?? '', /script-src 'self'/);
  await page.getByTestId('login-form').waitFor();
});

test('web app: an expiring share link ends with a full page; an offline camera says so (dark theme)', { timeout: 180_000 }, async (t) => {
  const browser = await launchBrowser(t);
  if (!browser) return;
  const relay = await startRelayWithWeb(t);
  const api = async (method: string, path: string, body?: unknown, token?: string) => {
    const res = await fetch(`${relay.url}${path}`, {
      method,
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, json: res.status === 204 ? null : await res.json() };
  };
  const login = await api('POST', '/api/auth/login', { username: 'admin', password: ADMIN_PASSWORD });
  const token = login.json.token as string;
  const created = await api('POST', '/api/cameras', { name: 'Porch' }, token);
  assert.equal(created.status, 201);
  const cameraId = created.json.camera.id as string;
  const configPath = join(tempDir(t, 'picam-e2e-agent-'), 'config.json');
  const enroll = new AgentProcess(['enroll', ...(created.json.enrollment.command as string).split(/\s+/).slice(2), '--config', configPath], envWithFakeCameraOnPath(), {
    stdin: `${created.json.enrollment.token as string}\n`,
  });
  assert.equal((await enroll.exited).code, 0, enroll.stderr.join('\n'));
  const agent = new AgentProcess(['run', '--config', configPath, '--tuning', TEST_TUNING], envWithFakeCameraOnPath());
  t.after(() => agent.stop());
  // The link's 8 s are for watching, not for the agent's start (seconds on a loaded machine): it streams first.
  for (const deadline = Date.now() + 30_000; ; ) {
    const res = await api('GET', `/api/cameras/${cameraId}`, undefined, token);
    if (res.status === 200 && res.json.camera.status.online === true && res.json.camera.status.lastFrameAt !== null) break;
    assert.ok(Date.now() < deadline, 'the agent did not stream within 30 s');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }

  const share = await api('POST', `/api/cameras/${cameraId}/shares`, { expiresIn: 8, label: 'short' }, token);
  assert.equal(share.status, 201);
  const context = await browser.newContext({ viewport: VIEWPORT, colorScheme: 'dark' });
  const page = await context.newPage();

  await step(page, 'a short share link plays, counts down, then says it has expired', async () => {
    await page.goto(share.json.url as string);
    await expectLiveVideo(page, { cameraId, minFrames: 5, timeoutMs: 30_000 });
    assert.match(await text(page, 'share-countdown'), /link valid for \d s/);
    await screenshot(page, 'e2e-11-share-dark');
    await page.getByTestId('share-ended').waitFor({ timeout: 15_000 });
    assert.equal(await page.getByTestId('share-ended').getAttribute('data-reason'), 'expired');
    assert.match(await page.locator('h1').innerText(), /This link has expired/);
    await screenshot(page, 'e2e-12-share-expired-dark');
  });

  await step(page, 'a link without its token is refused with a clear page', async () => {
    await page.goto((share.json.url as string).replace(/#.*/, ''));
    await page.getByTestId('share-ended').waitFor();
    assert.equal(await page.getByTestId('share-ended').getAttribute('data-reason'), 'invalid');
  });

  await step(page, 'when the agent stops, the camera page shows "Camera offline", and live again when it is back', async () => {
    await page.goto(`${relay.url}/login`);
    await page.getByTestId('login-username').fill('admin');
    await page.getByTestId('login-password').fill(ADMIN_PASSWORD);
    await page.getByTestId('login-submit').click();
    await page.getByTestId('page-cameras').waitFor();
    await page.goto(`${relay.url}/cameras/${cameraId}`);
    await expectLiveVideo(page, { cameraId });
    await agent.stop();
    await page.getByTestId('player-overlay-text').filter({ hasText: 'Camera offline' }).waitFor({ timeout: 10_000 });
    await page.getByTestId('camera-status').filter({ hasText: 'offline' }).waitFor({ timeout: 10_000 });
    await screenshot(page, 'e2e-13-camera-offline-dark');
    const again = new AgentProcess(['run', '--config', configPath, '--tuning', TEST_TUNING], envWithFakeCameraOnPath());
    t.after(() => again.stop());
    await expectLiveVideo(page, { cameraId, timeoutMs: 30_000 });
  });
});
