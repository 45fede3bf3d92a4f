import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Page } from 'playwright-core';
import { ADMIN_PASSWORD, launchBrowser, screenshot, startRelayWithWeb, step } from './helpers/browser.ts';

/**
 * The admin's pages in a real Chromium against the real relay CLI, the parts e2e-web.test.ts does
 * not walk through: a camera's card (rename, settings, re-enroll, delete), the users page (add,
 * edit, remove an account) and the share links form's own checks (a date in the past, a labelled
 * link, revoking it). No camera streams here: these pages only talk to the API.
 */

const VIEWPORT = { width: 1280, height: 860 };

async function text(page: Page, testid: string): Promise<string> {
  return (await page.getByTestId(testid).first().innerText()).trim();
}

async function confirm(page: Page): Promise<void> {
  await page.getByTestId('confirm-ok').click();
}

test('admin pages: a camera card, the users page and the share links form', { timeout: 180_000 }, async (t) => {
  const browser = await launchBrowser(t);
  if (!browser) return;
  const relay = await startRelayWithWeb(t);
  const context = await browser.newContext({ viewport: VIEWPORT });
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(`uncaught: ${err.message}`));

  await step(page, 'the admin logs in and adds two cameras', async () => {
    await page.goto(`${relay.url}/login`);
    await page.getByTestId('login-username').fill('admin');
    await page.getByTestId('login-password').fill(ADMIN_PASSWORD);
    await page.getByTestId('login-submit').click();
    await page.getByTestId('page-cameras').waitFor();
    await page.getByTestId('nav-admin-cameras').click();
    await page.getByTestId('admin-no-cameras').waitFor();
    for (const name of ['Porch', 'Yard']) {
      await page.getByTestId('add-camera-name').fill(name);
      await page.getByTestId('add-camera-submit').click();
      await page.getByTestId('enrollment').filter({ hasText: `Enroll “${name}”` }).waitFor();
      await page.getByTestId('admin-camera').filter({ hasText: name }).waitFor();
    }
    await page.getByTestId('admin-no-cameras').waitFor({ state: 'detached' });
  });

  const porch = page.getByTestId('admin-camera').filter({ hasText: 'Porch' });
  await step(page, 'rename: the card takes the new name, and keeps it across the page refresh', async () => {
    await porch.getByTestId('admin-camera-rename').click();
    await porch.getByTestId('rename-input').fill('Front porch');
    await porch.getByTestId('rename-save').click();
    await porch.getByTestId('admin-camera-message').filter({ hasText: 'Renamed.' }).waitFor();
    assert.equal(await porch.getByTestId('admin-camera-name').innerText(), 'Front porch');
    await page.reload();
    await page.getByTestId('admin-camera-name').filter({ hasText: 'Front porch' }).waitFor();
  });

  await step(page, 'settings open on the card, and straight away from the camera page link', async () => {
    await porch.getByTestId('admin-camera-settings').click();
    await porch.getByTestId('settings-form').waitFor();
    const id = await porch.getAttribute('data-camera-id');
    assert.ok(id);
    await page.goto(`${relay.url}/admin/cameras?camera=${encodeURIComponent(id)}`);
    await page.locator(`[data-camera-id="${id}"] [data-testid="settings-form"]`).waitFor();
    assert.equal(await page.getByTestId('settings-form').count(), 1, 'only the asked-for camera opens its settings');
  });

  await step(page, 're-enroll gives the card a new one-time token', async () => {
    await porch.getByTestId('admin-camera-reenroll').click();
    await confirm(page);
    const token = await porch.getByTestId('enroll-token').innerText();
    assert.match(token.trim(), /^[\w-]{43}$/);
    await screenshot(page, 'e2e-admin-01-reenroll');
  });

  await step(page, 'delete takes the card away; the relay no longer lists the camera', async () => {
    await porch.getByTestId('admin-camera-delete').click();
    await confirm(page);
    await porch.waitFor({ state: 'detached' });
    await page.reload();
    await page.getByTestId('admin-camera').filter({ hasText: 'Yard' }).waitFor();
    assert.equal(await page.getByTestId('admin-camera').count(), 1);
  });

  await step(page, 'users: add a viewer with a camera, make them an admin, remove them', async () => {
    await page.getByTestId('nav-admin-users').click();
    await page.getByTestId('user-add-form').waitFor();
    await page.getByTestId('user-add-username').fill('neighbour');
    await page.getByTestId('user-add-password').fill('neighbour-password');
    await page.getByTestId('user-add-form').getByTestId('user-camera').check();
    await page.getByTestId('user-add-submit').click();
    const row = page.getByTestId('user-row').filter({ hasText: 'neighbour' });
    await row.filter({ hasText: 'Cameras: Yard' }).waitFor();
    assert.equal(await page.getByTestId('user-add-username').inputValue(), '', 'a fresh form for the next one');

    await row.getByTestId('user-edit').click();
    await row.getByTestId('user-edit-role').selectOption('admin');
    await row.getByTestId('user-edit-save').click();
    await page.getByTestId('user-row').filter({ hasText: 'neighbour' }).filter({ hasText: 'All cameras' }).waitFor();
    await screenshot(page, 'e2e-admin-02-users');

    await page.getByTestId('user-row').filter({ hasText: 'neighbour' }).getByTestId('user-delete').click();
    await confirm(page);
    await page.getByTestId('users-message').filter({ hasText: 'Removed neighbour.' }).waitFor();
    await page.getByTestId('user-row').filter({ hasText: 'neighbour' }).waitFor({ state: 'detached' });
  });

  await step(page, 'share links: a date in the past is refused; a labelled link is shown once, listed, and revoked', async () => {
    await page.getByTestId('nav-admin-cameras').click();
    await page.getByTestId('admin-camera').filter({ hasText: 'Yard' }).getByTestId('admin-camera-shares').click();
    await page.getByTestId('shares-title').filter({ hasText: 'Share links: Yard' }).waitFor();
    await page.getByTestId('share-none').waitFor();
    await page.getByTestId('share-preset-until').check();
    await page.getByTestId('share-until').fill('2001-01-01T12:00');
    await page.getByTestId('share-create').click();
    await page.getByTestId('share-message').filter({ hasText: 'Pick a date and time in the future.' }).waitFor();

    await page.getByTestId('share-preset-3600').check();
    await page.getByTestId('share-label').fill('for the plumber');
    await page.getByTestId('share-create').click();
    assert.match(await text(page, 'share-url'), /\/s\/[\w-]+#\S+$/);
    assert.equal(await page.getByTestId('share-label').inputValue(), '', 'the label is cleared for the next link');
    const row = page.getByTestId('share-row').filter({ hasText: 'for the plumber' });
    await row.getByTestId('share-time-left').filter({ hasText: /59 min|1 h/ }).waitFor();
    await row.getByTestId('share-revoke').click();
    await confirm(page);
    await row.getByTestId('share-state').filter({ hasText: 'revoked' }).waitFor();
    await screenshot(page, 'e2e-admin-03-shares');
  });

  assert.deepEqual(errors, []);
});
