import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { playerOn } from '../../test/helpers/engine-player.ts';
import { ENGINES, ENGINE_LABEL, engineMissing, startEngine, testid, waitForTestId, type EngineName, type EnginePage } from '../../test/helpers/engines.ts';
import { sleep } from '../lib/children.ts';
import { machineBusySeconds } from '../lib/proc.ts';
import { quantile } from '../lib/stats.ts';
import { ms, ratio, verdict, type BenchOptions, type Row } from '../lib/table.ts';
import { MISREAD_WINDOW_MS, PASSWORD, readWriteLog, startCamera, startRelay, stop, writeFor } from './browser-latency.ts';

/**
 * Camera write -> picture on Chromium, Firefox and WebKitGTK in the same run, both player paths on
 * each (test/helpers/engines.ts drives the three). The picture is read from the page's pixels by
 * probe.js, as in the Chromium rows; here it is started once the page is live, because classic
 * WebDriver (WebKitGTK) has no script that runs before the page's own. 720p, the agent's default.
 */

const HERE = fileURLToPath(new URL('./', import.meta.url));

export interface EngineMeasurement {
  engine: EngineName;
  version: string;
  path: 'webcodecs' | 'mse';
  /** the path the player was on when measured (it falls back to MSE on a WebCodecs failure) */
  actualPath: string | null;
  seconds: number;
  frames: number;
  unmatched: number;
  p50: number;
  p95: number;
  fps: number;
  probeMsPerRead: number;
  boxBusyPct: number;
  error?: string;
}

interface ProbeRecord {
  frames: Array<[number, number]>;
  reads: number;
  probeMs: number;
}

function drain(page: EnginePage): Promise<ProbeRecord> {
  return page.evaluate(() => {
    const rec = (window as unknown as { __barcode: ProbeRecord }).__barcode;
    return { frames: rec.frames.splice(0), reads: rec.reads, probeMs: rec.probeMs };
  }, null);
}

async function measurePath(page: EnginePage, url: string, cameraId: string, logPath: string, seconds: number): Promise<Omit<EngineMeasurement, 'engine' | 'version' | 'path'>> {
  await page.goto(url);
  const deadline = Date.now() + 30_000;
  for (;;) {
    const s = await playerOn(page, cameraId).catch(() => undefined);
    if (s?.state === 'live' && s.framesShown >= 5) break;
    if (Date.now() > deadline) throw new Error(`no live picture in 30 s: ${JSON.stringify(s ?? 'no player')}`);
    await sleep(100);
  }
  await page.runScript(readFileSync(join(HERE, 'probe.js'), 'utf8'));
  // One second to settle (the probe's first reads, the player at the live edge), then the window.
  await sleep(1000);
  await drain(page);
  const busyAt = machineBusySeconds();
  const from = Date.now();
  const frames: Array<[number, number]> = [];
  let rec: ProbeRecord = { frames: [], reads: 0, probeMs: 0 };
  while (Date.now() - from < seconds * 1000) {
    await sleep(Math.min(1000, seconds * 1000 - (Date.now() - from)));
    rec = await drain(page);
    frames.push(...rec.frames);
  }
  const elapsed = (Date.now() - from) / 1000;
  const boxBusyPct = ((machineBusySeconds() - busyAt) / elapsed) * 100;
  const actualPath = (await playerOn(page, cameraId))?.path ?? null;
  const writes = readWriteLog(logPath);
  const latencies: number[] = [];
  let unmatched = 0;
  for (const [index, shownAt] of frames) {
    const w = writeFor(writes, index, shownAt);
    const misread = writes[index]?.some((next) => next.epochMs > shownAt && next.epochMs - shownAt < MISREAD_WINDOW_MS) ?? false;
    if (w && !misread) latencies.push(shownAt - w.epochMs);
    else unmatched++;
  }
  return {
    actualPath,
    seconds: elapsed,
    frames: latencies.length,
    unmatched,
    p50: quantile(latencies, 0.5),
    p95: quantile(latencies, 0.95),
    fps: latencies.length / elapsed,
    probeMsPerRead: rec.reads ? rec.probeMs / rec.reads : Number.NaN,
    boxBusyPct,
  };
}

export interface EngineLatencyResult {
  rows: Row[];
  measurements: EngineMeasurement[];
}

/** Every installed engine (a missing one is a row saying so), WebCodecs then MSE on each. */
export async function runEngineLatency(options: BenchOptions): Promise<EngineLatencyResult> {
  const log = options.log ?? (() => {});
  const seconds = options.quick ? 3 : 10;
  const dir = mkdtempSync(join(tmpdir(), 'picam-bench-engines-'));
  const measurements: EngineMeasurement[] = [];
  const missing: Row[] = [];
  let relay: Awaited<ReturnType<typeof startRelay>> | undefined;
  let camera: Awaited<ReturnType<typeof startCamera>> | undefined;
  try {
    relay = await startRelay(dir);
    const logPath = join(dir, 'agent-720p.log');
    camera = await startCamera(relay, dir, 1280, 720, logPath);
    for (const name of ENGINES) {
      const lacking = engineMissing(name);
      if (lacking) {
        missing.push({ figure: `browser ${ENGINE_LABEL[name]}`, value: `not installed: ${lacking}`, target: '-', floor: '-', ratio: '-', verdict: 'n/a' });
        continue;
      }
      const engine = await startEngine(name);
      try {
        const page = await engine.newPage({ width: 1280, height: 800 });
        await page.goto(`${relay.url}/login`);
        await waitForTestId(page, 'login-form');
        await page.fill(testid('login-username'), 'admin');
        await page.fill(testid('login-password'), PASSWORD);
        await page.click(testid('login-submit'));
        await waitForTestId(page, 'page-cameras');
        for (const path of ['webcodecs', 'mse'] as const) {
          const base = { engine: name, version: engine.version, path };
          try {
            const m = { ...base, ...(await measurePath(page, `${relay.url}/cameras/${camera.id}?player=${path}`, camera.id, logPath, seconds)) };
            measurements.push(m);
            log(
              `${ENGINE_LABEL[name]} ${engine.version} ${path}${m.actualPath !== path ? ` (player on ${m.actualPath})` : ''}: ${m.frames} pictures in ${m.seconds.toFixed(1)} s = ${m.fps.toFixed(1)} fps, ` +
                `p50 ${m.p50.toFixed(1)} p95 ${m.p95.toFixed(1)} ms, unmatched ${m.unmatched}, probe ${m.probeMsPerRead.toFixed(2)} ms/read, box ${m.boxBusyPct.toFixed(0)} %`,
            );
          } catch (err) {
            const error = (err as Error).message.split('\n')[0]!.slice(0, 160);
            measurements.push({ ...base, actualPath: null, seconds: 0, frames: 0, unmatched: 0, p50: Number.NaN, p95: Number.NaN, fps: 0, probeMsPerRead: Number.NaN, boxBusyPct: Number.NaN, error });
            log(`${ENGINE_LABEL[name]} ${path}: ${error}`);
          }
        }
        await page.close();
      } finally {
        await engine.close();
      }
    }
    return { rows: [...engineRows(measurements), ...missing], measurements };
  } finally {
    await stop(camera?.agent);
    await stop(relay?.child);
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Chromium's row on the same path is each other engine's baseline. */
export function engineRows(measurements: readonly EngineMeasurement[]): Row[] {
  const rows: Row[] = [];
  for (const m of measurements) {
    const label = `browser ${ENGINE_LABEL[m.engine]} ${m.path === 'mse' ? 'MSE' : 'WebCodecs'} 720p`;
    if (m.error) {
      rows.push({ figure: `${label}: latency p50`, value: `failed: ${m.error}`, target: '-', floor: '-', ratio: '-', verdict: 'n/a' });
      continue;
    }
    const base = m.engine === 'chromium' ? undefined : measurements.find((b) => b.engine === 'chromium' && b.path === m.path && !b.error);
    const fell = m.actualPath !== m.path ? ` (player on ${m.actualPath})` : '';
    const none = m.frames === 0;
    rows.push({
      figure: `${label}: latency p50`,
      value: `${ms(m.p50)}${fell} (box ${m.boxBusyPct.toFixed(0)} %)`,
      target: '-',
      floor: base ? `Chromium ${ms(base.p50)}` : '-',
      ratio: base ? ratio(m.p50, base.p50) : '-',
      verdict: none ? 'n/a' : 'info',
    });
    rows.push({
      figure: `${label}: frames shown`,
      value: `${m.fps.toFixed(1)} fps`,
      target: '>= 25 fps',
      floor: base ? `Chromium ${base.fps.toFixed(1)} fps` : '-',
      ratio: base ? ratio(m.fps, base.fps) : '-',
      verdict: verdict(m.fps >= 25),
    });
  }
  return rows;
}
