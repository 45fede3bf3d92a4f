import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type BrowserContext } from 'playwright-core';
import { sleep } from '../lib/children.ts';
import { api } from '../lib/relay.ts';
import { quantile } from '../lib/stats.ts';
import { PASSWORD, startCamera, startRelay, stop } from './browser-latency.ts';
import { startFront } from './front.ts';

/**
 * node --import tsx bench/browser-latency/ab-first-picture.ts --a=DIR --b=DIR [--page=share|camera] [--opens=9]
 *
 * Page open -> first picture of two builds of the web app (two `web/dist` folders, e.g. one copied
 * aside before a change and one after) in ONE run: one relay, one camera and one share link behind
 * two small fronts, each serving its build's index.html, app.js and app.css and piping everything
 * else (the API, the live WebSocket) to the relay; page opens alternate A B B A ..., each in a fresh
 * context, from a page on another site, with probe.js installed before the page's scripts. On a
 * loaded 2-core machine one open moves by hundreds of ms with the load, and so do whole runs: taken
 * in turns, both builds see the same load. The fronts add a loopback hop to both alike.
 */

const HERE = fileURLToPath(new URL('./', import.meta.url));
const CHROMIUM = process.env.PICAM_CHROMIUM ?? '/usr/bin/chromium';
type Session = Awaited<ReturnType<BrowserContext['storageState']>>;
const STAGES = ['wsCreated', 'wsOpen', 'wsFirstBinary', 'decoderCreated', 'firstDecoded'];

function arg(name: string): string | undefined {
  return process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
}

/** Page open -> first readable barcode, and the probe's stages, in ms after navigation start. */
async function open(browser: Browser, elsewhere: string, url: string, session: Session | undefined): Promise<{ firstPicture: number; stages: Record<string, number> }> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, ...(session ? { storageState: session } : {}) });
  try {
    const page = await context.newPage();
    await page.addInitScript({ path: join(HERE, 'probe.js') });
    await page.goto(elsewhere);
    await page.goto(url);
    const deadline = Date.now() + 20_000;
    for (;;) {
      // No arrow functions in page code: tsx would wrap them in a helper the page does not have.
      const seen = await page.evaluate(function read() {
        const rec = (globalThis as unknown as { __barcode: { firstValidAt: number | null; startup: Record<string, number> } }).__barcode;
        return { first: rec.firstValidAt === null ? null : rec.firstValidAt - performance.timeOrigin, stages: rec.startup };
      });
      if (seen.first !== null) return { firstPicture: seen.first, stages: seen.stages };
      if (Date.now() > deadline) throw new Error(`${url}: no readable picture in 20 s`);
      await sleep(20);
    }
  } finally {
    await context.close();
  }
}

const dists = { A: arg('a'), B: arg('b') };
if (!dists.A || !dists.B) {
  process.stderr.write('usage: ab-first-picture.ts --a=DIR --b=DIR [--page=share|camera] [--opens=9]  (DIR: a built web/dist)\n');
  process.exit(2);
}
const pageKind = arg('page') ?? 'share';
const opens = Number(arg('opens') ?? 9);
const dir = mkdtempSync(join(tmpdir(), 'picam-bench-ab-'));
const load = () => loadavg().map((l) => l.toFixed(1)).join(' ');
const loadBefore = load();
let relay: Awaited<ReturnType<typeof startRelay>> | undefined;
let camera: Awaited<ReturnType<typeof startCamera>> | undefined;
let browser: Browser | undefined;
const servers: Server[] = [];
try {
  relay = await startRelay(dir);
  camera = await startCamera(relay, dir, 1280, 720, join(dir, 'camera.log'));
  let path = `/cameras/${camera.id}`;
  if (pageKind === 'share') {
    const share = await api(relay.url, 'POST', `/api/cameras/${camera.id}/shares`, { expiresIn: 3600, label: 'a/b' }, relay.token);
    if (share.status !== 201) throw new Error(`create share link: ${share.status}`);
    const link = new URL(share.json.url as string);
    path = `${link.pathname}${link.hash}`;
  }
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update'] });
  const fronts: Record<string, string> = {};
  for (const [name, dist] of Object.entries(dists)) {
    const front = await startFront(dist!, new URL(relay.url));
    servers.push(front.server);
    fronts[name] = front.url;
  }
  const other = createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><title>elsewhere</title>'));
  servers.push(other);
  other.listen(0, '127.0.0.1');
  await once(other, 'listening');
  const otherAddress = other.address();
  const elsewhere = `http://localhost:${typeof otherAddress === 'object' && otherAddress ? otherAddress.port : 0}/`;
  // A camera page needs the session cookie: one login (the relay rate-limits them); cookies are per host, not port.
  let session: Session | undefined;
  if (pageKind === 'camera') {
    const context = await browser.newContext();
    const login = await context.request.post(`${fronts.A}/api/auth/login`, { data: { username: 'admin', password: PASSWORD } });
    if (!login.ok()) throw new Error(`login: ${login.status()}`);
    session = await context.storageState();
    await context.close();
  }
  const results: Record<string, Array<{ firstPicture: number; stages: Record<string, number> }>> = { A: [], B: [] };
  for (let i = 0; i < opens; i++) {
    for (const name of i % 2 ? ['B', 'A'] : ['A', 'B']) results[name]!.push(await open(browser, elsewhere, `${fronts[name]}${path}`, session));
  }
  process.stdout.write(`${pageKind === 'share' ? 'share link' : 'camera page'} 720p, ${opens} opens each, load average ${loadBefore} -> ${load()}\n`);
  for (const [name, list] of Object.entries(results)) {
    const median = (values: number[]) => quantile(values, 0.5).toFixed(0);
    const stages = STAGES.map((s) => `${s} ${median(list.map((r) => r.stages[s] ?? Number.NaN))}`).join(' | ');
    process.stdout.write(`${name} (${dists[name as 'A' | 'B']}): first picture median ${median(list.map((r) => r.firstPicture))} ms (${list.map((r) => r.firstPicture.toFixed(0)).join(', ')}); stage medians ${stages}\n`);
  }
} finally {
  await browser?.close();
  for (const server of servers) server.close();
  await stop(camera?.agent);
  await stop(relay?.child);
  rmSync(dir, { recursive: true, force: true });
}
