import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { pathToFileURL } from 'node:url';
import { startHelper, sleep, REPO_ROOT, type Helper } from '../lib/children.ts';
import { FAKE_CAMERA_DIR, FANOUT_CLIP } from '../lib/clips.ts';
import { cpuSeconds, processTree, rssKiB } from '../lib/proc.ts';
import { quantile } from '../lib/stats.ts';
import { RESULTS_DIR, type BenchOptions } from '../lib/table.ts';

/**
 * The BASELINE: the old single-viewer pipeline of ORIGINAL-SETUP.txt on loopback: the (fake) camera
 * `--listen -o tcp://127.0.0.1:P` + Debian's websockify, one raw WebSocket viewer. The stream has no
 * headers, so latency is matched on bytes: frame n of the camera's write log (FAKE_CAMERA_WRITE_LOG,
 * stamped at write) is received when the viewer's byte count reaches the end of frame n. Then a
 * second viewer tries (websockify's new connection to the camera finds no listener), and the first
 * one leaves (the camera exits with it).
 */

export interface BaselineResult {
  p50: number;
  p99: number;
  frames: number;
  cpuPercent: number;
  peakRssMiB: number;
  secondViewer: string;
  cameraAfterViewerLeft: string;
}

async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  const port = address && typeof address === 'object' ? address.port : 0;
  server.close();
  await once(server, 'close');
  return port;
}

function waitForOutput(child: ChildProcess, pattern: RegExp, what: string, timeoutMs = 15_000): Promise<void> {
  return new Promise((resolve, reject) => {
    let text = '';
    const timer = setTimeout(() => reject(new Error(`${what}: not ready in ${timeoutMs} ms: ${text}`)), timeoutMs);
    const onData = (c: Buffer) => {
      text += c.toString();
      if (pattern.test(text)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', () => reject(new Error(`${what} exited: ${text}`)));
  });
}

interface RawReport {
  bytes: number;
  samples: Array<[number, number]>;
  closedCode: number | null;
}

export async function runBaseline(options: BenchOptions): Promise<BaselineResult> {
  const warmupMs = options.quick ? 500 : 1000;
  const windowMs = options.quick ? 2000 : 10_000;
  mkdirSync(RESULTS_DIR, { recursive: true });
  const writeLog = `${RESULTS_DIR}baseline-writes.log`;
  rmSync(writeLog, { force: true });
  const cameraPort = await freePort();
  const wsPort = await freePort();
  const camera = spawn(
    process.execPath,
    [`${FAKE_CAMERA_DIR}rpicam-vid`, '-t', '0', '--inline', '--width', '1920', '--height', '1080', '--framerate', '30', '--listen', '-o', `tcp://127.0.0.1:${cameraPort}`],
    { cwd: REPO_ROOT, env: { ...process.env, FAKE_CAMERA_CLIP: FANOUT_CLIP, FAKE_CAMERA_WRITE_LOG: writeLog }, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  const cameraExit = once(camera, 'exit') as Promise<[number | null, string | null]>;
  const websockify = spawn('websockify', [`127.0.0.1:${wsPort}`, `127.0.0.1:${cameraPort}`], { stdio: ['ignore', 'pipe', 'pipe'] });
  const helpers: Helper[] = [];
  try {
    await waitForOutput(camera, /Waiting for client/, 'fake camera');
    await waitForOutput(websockify, /Listen on/, 'websockify');
    await sleep(300);

    const first = startHelper('../fanout/raw-receiver.ts');
    helpers.push(first);
    const ok = await first.request<{ ok: boolean }>({ type: 'connect', url: `ws://127.0.0.1:${wsPort}/` }, 'connected');
    if (!ok.ok) throw new Error('the first viewer could not connect to websockify');
    await sleep(warmupMs);

    // websockify forks a process per client: measure the whole tree.
    const tree = processTree(websockify.pid!);
    const cpuStart = tree.map(cpuSeconds);
    let peakKiB = 0;
    const rssTimer = setInterval(() => {
      const sum = tree.reduce((a, p) => a + (rssKiB(p) || 0), 0);
      if (sum > peakKiB) peakKiB = sum;
    }, 100);
    const startAt = performance.now();
    first.child.send({ type: 'record' });
    await sleep(windowMs);
    const report = await first.request<RawReport>({ type: 'report' }, 'report');
    const cpu = tree.reduce((a, p, i) => a + (cpuSeconds(p) - cpuStart[i]!), 0);
    const seconds = (performance.now() - startAt) / 1000;
    clearInterval(rssTimer);

    // Per-frame latency from the camera's own write log, split with the camera's own splitter.
    const annexb = (await import(pathToFileURL(`${FAKE_CAMERA_DIR}lib/annexb.mjs`).href)) as {
      splitAccessUnits(bytes: Buffer): Array<{ data: Uint8Array }>;
    };
    const units = annexb.splitAccessUnits(readFileSync(FANOUT_CLIP));
    const writes = readFileSync(writeLog, 'utf8').trim().split('\n').map((l) => l.split(' ').map(Number));
    const latencies: number[] = [];
    const samples = report.samples;
    const firstRecorded = samples[0]?.[0] ?? Number.POSITIVE_INFINITY;
    let end = 0;
    let s = 0;
    for (const [index, , writtenUs] of writes) {
      end += units[index!]!.data.byteLength;
      if (end <= firstRecorded) continue;
      while (s < samples.length && samples[s]![0] < end) s++;
      if (s >= samples.length) break;
      latencies.push((samples[s]![1] - writtenUs!) / 1000);
    }

    // A second viewer: websockify accepts it, then its connection to the camera finds no listener.
    const second = startHelper('../fanout/raw-receiver.ts');
    helpers.push(second);
    const bytesBefore = (await first.request<RawReport>({ type: 'report' }, 'report')).bytes;
    const secondOk = await second.request<{ ok: boolean }>({ type: 'connect', url: `ws://127.0.0.1:${wsPort}/` }, 'connected');
    await sleep(2000);
    const secondReport = await second.request<RawReport>({ type: 'report' }, 'report');
    const firstAfter = await first.request<RawReport>({ type: 'report' }, 'report');
    const secondViewer =
      `2nd viewer: ${secondOk.ok ? 'upgrade accepted' : 'refused'}, ${secondReport.bytes} bytes in 2 s` +
      `${secondReport.closedCode !== null ? `, closed ${secondReport.closedCode}` : ''}; 1st viewer ${firstAfter.bytes > bytesBefore ? 'kept streaming' : 'stalled'}`;

    // The viewer leaves: the camera's next send fails and it exits (the known problem 2).
    await first.request({ type: 'close' }, 'closing');
    const left = await Promise.race([cameraExit.then(([code]) => `camera exited (${code}) when the viewer left`), sleep(3000).then(() => 'camera kept running after the viewer left')]);

    return {
      p50: quantile(latencies, 0.5),
      p99: quantile(latencies, 0.99),
      frames: latencies.length,
      cpuPercent: (100 * cpu) / seconds,
      peakRssMiB: peakKiB / 1024,
      secondViewer,
      cameraAfterViewerLeft: left,
    };
  } finally {
    await Promise.all(helpers.map((h) => h.stop()));
    for (const pid of processTree(websockify.pid!).reverse()) {
      try {
        process.kill(pid, 'SIGTERM');
      } catch {
        // gone
      }
    }
    camera.kill('SIGTERM');
  }
}
