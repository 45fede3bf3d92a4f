import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { DEFAULT_CAMERA_SETTINGS } from '@picam/protocol';
import { startHelper, sleep, REPO_ROOT } from '../lib/children.ts';
import { ensureBundle } from '../lib/bundles.ts';
import { FAKE_CAMERA_DIR, clipBitrate, ensureAgentClip, loadUnits } from '../lib/clips.ts';
import { WindowMeter, peakRssKiB, processTree, type WindowUsage } from '../lib/proc.ts';
import { quantile } from '../lib/stats.ts';
import { mib, ms, ratio, verdict, type BenchOptions, type Row } from '../lib/table.ts';

/**
 * Agent benchmark: the real agent (`picam-agent run`, the esbuild bundle when it is up to date,
 * else the TypeScript source through tsx) with the fake rpicam-vid on PATH streaming a 1080p30
 * 8 Mbit/s clip, to a loopback ws sink that stamps receive time. Latency = sink receive - camera
 * write (FAKE_CAMERA_WRITE_LOG), matched by sequence number and checked by payload size. CPU and
 * peak RSS of the agent process (not the camera). Beside it, two floors: the same camera piped into
 * `cat > /dev/null` (the floor: no process can do less), and into `node-forwarder.mjs`, the
 * least a Node process can do in the agent's place (each read sent as one WebSocket message to the
 * same sink), which separates what the agent adds from what Node and a TCP socket cost.
 */

export interface AgentMeasurement {
  entry: string;
  videoSeconds: number;
  frames: number;
  written: number;
  mismatched: number;
  p50: number;
  p99: number;
  max: number;
  /** agent stamp - camera write: how soon the agent read the frame */
  readP50: number;
  readP99: number;
  usage: WindowUsage;
  lifetimePeakRssMiB: number;
  cpuSecondsPerMinute: number;
}

export interface CatMeasurement {
  usage: WindowUsage;
  lifetimePeakRssMiB: number;
  cpuSecondsPerMinute: number;
}

const CAMERA_ARGS = ['-t', '0', '--inline', '--flush', '--nopreview', '--width', '1920', '--height', '1080', '--framerate', '30', '-o', '-'];

/** The agent as a Pi runs it: the single-file bundle, rebuilt first when older than its sources. */
/** the agent's default --backfill-mb (DEFAULT_BACKFILL_CONFIG in edge-agent/src/config.ts), which the bench leaves as it is */
const BACKFILL_RING_MB = 64;

function agentCommand(): { args: string[]; entry: string } {
  ensureBundle('edge-agent/dist/picam-agent.mjs', ['edge-agent/src', 'protocol/src'], 'edge-agent/build.mjs');
  return { args: [join(REPO_ROOT, 'edge-agent/dist/picam-agent.mjs')], entry: 'edge-agent/dist/picam-agent.mjs (bundle)' };
}

function cleanEnv(extra: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ...extra, PATH: `${FAKE_CAMERA_DIR}${delimiter}${process.env.PATH ?? ''}` };
  for (const key of ['PICAM_RELAY', 'PICAM_DEVICE_TOKEN', 'PICAM_AGENT_CONFIG', 'PICAM_CAMERA_COMMAND', 'PICAM_AGENT_TUNING', 'LOG_LEVEL']) delete env[key];
  return env;
}

export async function measureAgent(options: BenchOptions, clip: string): Promise<AgentMeasurement> {
  const windowMs = options.quick ? 3000 : 60_000;
  const warmupMs = options.quick ? 500 : 2000;
  const dir = mkdtempSync(join(tmpdir(), 'picam-bench-agent-'));
  const writeLog = join(dir, 'writes.log');
  const sink = startHelper('../agent/sink-server.ts');
  const { url } = await sink.next<{ url: string }>('listening');
  const config = join(dir, 'config.json');
  writeFileSync(
    config,
    JSON.stringify({
      relay: url,
      cameraId: 'bench-camera',
      credential: 'bench-device-credential-0123456789abcdef',
      settings: { ...DEFAULT_CAMERA_SETTINGS, width: 1920, height: 1080, framerate: 30, bitrate: 8_000_000, intra: 30 },
    }),
  );
  const command = agentCommand();
  // --cpu-prof: the agent writes a V8 CPU profile of its whole life into bench/results/profiles/.
  // PICAM_BENCH_AGENT_IMPORT=file.mjs instead preloads a probe into the agent (e.g. one logging
  // process.memoryUsage()), for memory experiments.
  const profileArgs = process.env.PICAM_BENCH_AGENT_IMPORT ? ['--import', process.env.PICAM_BENCH_AGENT_IMPORT] : options.profile ? ['--cpu-prof', `--cpu-prof-dir=${join(REPO_ROOT, 'bench/results/profiles')}`] : [];
  const agent = spawn(process.execPath, [...profileArgs, ...command.args, 'run', '--config', config, '--log-level', 'warn'], {
    cwd: dir,
    env: cleanEnv({ FAKE_CAMERA_CLIP: clip, FAKE_CAMERA_WRITE_LOG: writeLog }),
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const exited = once(agent, 'exit');
  try {
    const deadline = Date.now() + 30_000;
    while ((await sink.request<{ frames: number }>({ type: 'count' }, 'count')).frames === 0) {
      if (Date.now() > deadline || agent.exitCode !== null) throw new Error('the agent sent no frame within 30 s');
      await sleep(100);
    }
    await sleep(warmupMs);
    const meter = new WindowMeter(agent.pid!, true);
    meter.start();
    const startUs = (performance.timeOrigin + performance.now()) * 1000;
    await sleep(windowMs);
    const usage = meter.stop();
    const endUs = (performance.timeOrigin + performance.now()) * 1000;
    const lifetimePeakRssMiB = peakRssKiB(agent.pid!) / 1024;
    const report = await sink.request<{ frames: Array<[number, number, number, number, number]> }>({ type: 'report' }, 'report');

    const units = loadUnits(clip);
    const writes = readFileSync(writeLog, 'utf8').trim().split('\n').map((l) => l.split(' ').map(Number));
    const latencies: number[] = [];
    const reads: number[] = [];
    let mismatched = 0;
    let counted = 0;
    for (const [seq, captureUs, recvUs, bytes] of report.frames) {
      if (recvUs < startUs || recvUs > endUs) continue;
      counted++;
      const write = writes[seq];
      if (!write || units[write[0]!]?.data.byteLength !== bytes) {
        mismatched++;
        continue;
      }
      latencies.push((recvUs - write[2]!) / 1000);
      reads.push((captureUs - write[2]!) / 1000);
    }
    const videoSeconds = counted / 30;
    return {
      entry: command.entry,
      videoSeconds,
      frames: counted,
      written: writes.length,
      mismatched,
      p50: quantile(latencies, 0.5),
      p99: quantile(latencies, 0.99),
      max: quantile(latencies, 1),
      readP50: quantile(reads, 0.5),
      readP99: quantile(reads, 0.99),
      usage,
      lifetimePeakRssMiB,
      cpuSecondsPerMinute: (usage.cpuSeconds * 60) / usage.seconds,
    };
  } finally {
    agent.kill('SIGTERM');
    const timer = setTimeout(() => agent.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
    await sink.stop();
  }
}

/**
 * The same camera piped into `consumer` (a shell command) for the window: CPU and peak RSS of the
 * consumer process, found in the pipeline's process tree by `isConsumer(pid)`.
 */
async function measurePipeFloor(
  options: BenchOptions,
  clip: string,
  consumer: string,
  isConsumer: (pid: number) => boolean,
): Promise<CatMeasurement> {
  const windowMs = options.quick ? 3000 : 60_000;
  const warmupMs = options.quick ? 500 : 2000;
  const quoted = [process.execPath, `${FAKE_CAMERA_DIR}rpicam-vid`, ...CAMERA_ARGS].map((a) => `'${a}'`).join(' ');
  const shell = spawn('sh', ['-c', `${quoted} 2>/dev/null | ${consumer}`], { env: cleanEnv({ FAKE_CAMERA_CLIP: clip }), stdio: ['ignore', 'ignore', 'inherit'] });
  const exited = once(shell, 'exit');
  try {
    let pid: number | undefined;
    for (let i = 0; i < 50 && pid === undefined; i++) {
      await sleep(100);
      pid = processTree(shell.pid!).find((p) => {
        try {
          return isConsumer(p);
        } catch {
          return false;
        }
      });
    }
    if (pid === undefined) throw new Error(`${consumer} did not start`);
    await sleep(warmupMs);
    const meter = new WindowMeter(pid, true);
    meter.start();
    await sleep(windowMs);
    const usage = meter.stop();
    return { usage, lifetimePeakRssMiB: peakRssKiB(pid) / 1024, cpuSecondsPerMinute: (usage.cpuSeconds * 60) / usage.seconds };
  } finally {
    for (const pid of processTree(shell.pid!).reverse()) {
      try {
        process.kill(pid, 'SIGTERM');
      } catch {
        // gone
      }
    }
    await exited;
  }
}

export function measureCat(options: BenchOptions, clip: string): Promise<CatMeasurement> {
  return measurePipeFloor(options, clip, 'cat > /dev/null', (pid) => readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'cat');
}

/** The Node floor: camera | node node-forwarder.mjs, sending to the agent bench's sink. */
export async function measureNodeForwarder(options: BenchOptions, clip: string): Promise<CatMeasurement> {
  const sink = startHelper('../agent/sink-server.ts');
  try {
    const { url } = await sink.next<{ url: string }>('listening');
    const script = join(REPO_ROOT, 'bench/agent/node-forwarder.mjs');
    const wsUrl = `${url.replace(/^http/, 'ws')}/api/agent`;
    // Its argv[1] is the script (the shell running the pipeline has it inside one `-c` argument).
    return await measurePipeFloor(options, clip, `'${process.execPath}' '${script}' '${wsUrl}'`, (pid) =>
      readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[1] === script,
    );
  } finally {
    await sink.stop();
  }
}

export function agentRows(a: AgentMeasurement, cat: CatMeasurement, nodeFloor: CatMeasurement, clipMbps: number): Row[] {
  const name = `agent 1080p30 ${clipMbps.toFixed(1)} Mbit/s`;
  const cpuLabel = (s: number) => `${s < 0.1 ? s.toFixed(3) : s.toFixed(2)} s/min`;
  return [
    {
      figure: `${name}: camera write -> relay receive p50 / p99`,
      value: `${ms(a.p50)} / ${ms(a.p99)}`,
      target: 'p50 <= 1 ms, p99 <= 5 ms (agent issue: 3 / 10)',
      floor: `agent read stamp: ${ms(a.readP50)} / ${ms(a.readP99)}`,
      ratio: '-',
      verdict: verdict(a.p50 <= 1 && a.p99 <= 5),
    },
    {
      figure: `${name}: agent CPU per minute of video`,
      value: `${cpuLabel(a.cpuSecondsPerMinute)} (${((100 * a.usage.cpuSeconds) / a.usage.seconds).toFixed(1)} % of a core)`,
      target: '<= 3x cat',
      floor: `cat: ${cpuLabel(cat.cpuSecondsPerMinute)}`,
      ratio: ratio(a.cpuSecondsPerMinute, cat.cpuSecondsPerMinute),
      verdict: verdict(a.cpuSecondsPerMinute <= 3 * cat.cpuSecondsPerMinute),
    },
    {
      figure: `${name}: agent peak RSS`,
      value: mib(a.lifetimePeakRssMiB),
      // The agent runs with its default backfill ring (--backfill-mb 64): a minute of this stream
      // fills most of it, and that memory is the user's setting, on top of the agent's own 60 MB.
      target: `<= 60 MB + the backfill ring (${BACKFILL_RING_MB} MB)`,
      floor: `cat: ${mib(cat.lifetimePeakRssMiB)}`,
      ratio: ratio(a.lifetimePeakRssMiB, cat.lifetimePeakRssMiB),
      verdict: verdict(a.lifetimePeakRssMiB <= 60 + BACKFILL_RING_MB),
    },
    {
      figure: `${name}: Node floor (camera | node forwarder -> same sink) CPU / peak RSS`,
      value: `agent ${cpuLabel(a.cpuSecondsPerMinute)} / ${mib(a.lifetimePeakRssMiB)}`,
      target: '-',
      floor: `forwarder ${cpuLabel(nodeFloor.cpuSecondsPerMinute)} / ${mib(nodeFloor.lifetimePeakRssMiB)}`,
      ratio: ratio(a.cpuSecondsPerMinute, nodeFloor.cpuSecondsPerMinute),
      verdict: 'info',
    },
    {
      figure: `${name}: frames matched to camera writes`,
      value: `${a.frames - a.mismatched} of ${a.frames} in ${a.videoSeconds.toFixed(0)} s (${a.entry})`,
      target: 'all',
      floor: '-',
      ratio: '-',
      verdict: verdict(a.frames > 0 && a.mismatched === 0),
    },
  ];
}

export interface AgentResult {
  rows: Row[];
  agent: AgentMeasurement;
  cat: CatMeasurement;
  nodeFloor: CatMeasurement;
}

export async function runAgentBench(options: BenchOptions): Promise<AgentResult> {
  const log = options.log ?? (() => {});
  const clip = ensureAgentClip(log);
  const clipMbps = clipBitrate(loadUnits(clip)) / 1e6;
  log(`agent: ${options.quick ? 3 : 60} s of video through the real agent...`);
  const agent = await measureAgent(options, clip);
  log(`agent: p50/p99 ${agent.p50.toFixed(2)}/${agent.p99.toFixed(2)} ms, cpu ${agent.cpuSecondsPerMinute.toFixed(2)} s/min, rss ${agent.lifetimePeakRssMiB.toFixed(1)} MB`);
  log(`agent floor: the same camera | cat > /dev/null...`);
  const cat = await measureCat(options, clip);
  log(`cat: cpu ${cat.cpuSecondsPerMinute.toFixed(3)} s/min, rss ${cat.lifetimePeakRssMiB.toFixed(1)} MB`);
  log(`agent Node floor: the same camera | node node-forwarder.mjs -> sink...`);
  const nodeFloor = await measureNodeForwarder(options, clip);
  log(`node forwarder: cpu ${nodeFloor.cpuSecondsPerMinute.toFixed(3)} s/min, rss ${nodeFloor.lifetimePeakRssMiB.toFixed(1)} MB`);
  return { rows: agentRows(agent, cat, nodeFloor, clipMbps), agent, cat, nodeFloor };
}
