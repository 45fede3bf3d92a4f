import WebSocket from 'ws';
import { DEFAULT_CAMERA_SETTINGS, Track, encodeFrame, type HelloMessage } from '@picam/protocol';
import { reply } from '../lib/children.ts';
import { loadUnits, type Unit } from '../lib/clips.ts';
import { epochMicrosNow } from '../lib/stats.ts';

/**
 * The bench's camera(s): a scripted agent in its own process speaking the wire format over
 * WS /api/agent (Bearer device credential for the relay; `?camera=` for the bare floor server),
 * hello first, then the clip's access units paced at `fps` in real time, looping (the clip starts
 * with a keyframe, GOP 30). Capture time is stamped right before each send, with sub-ms precision.
 * Several cameras are phase-shifted across the frame interval, like unsynchronized real ones.
 *
 * IPC: {type:'connect', cameras:[{url, headers}], clip, fps} -> 'connected';
 *      {type:'start'} -> 'started'; {type:'stats'} -> 'stats' {sent, maxBufferedBytes, lateMs}.
 */

interface CameraTarget {
  url: string;
  headers: Record<string, string>;
}

interface Cam {
  ws: WebSocket;
  cursor: number;
  sequence: number;
  /** frame n is due at start + phase + n * interval */
  phaseMs: number;
  n: number;
}

let units: Unit[] = [];
const cams: Cam[] = [];
let fps = 30;
let maxBuffered = 0;
let lateMax = 0;
let running = false;

function hello(): HelloMessage {
  return {
    type: 'hello',
    agentVersion: 'bench-publisher',
    settings: { ...DEFAULT_CAMERA_SETTINGS, width: 1920, height: 1080, framerate: fps, bitrate: 4_000_000 },
    video: null,
    audio: null,
  };
}

async function connect(targets: CameraTarget[]): Promise<void> {
  await Promise.all(
    targets.map(
      (t, i) =>
        new Promise<void>((resolve, reject) => {
          const ws = new WebSocket(t.url, { headers: t.headers, perMessageDeflate: false, generateMask: (mask) => mask.fill(0) });
          ws.once('open', () => {
            ws.send(JSON.stringify(hello()));
            cams.push({ ws, cursor: 0, sequence: 0, phaseMs: (i * 1000) / fps / targets.length, n: 0 });
            resolve();
          });
          ws.once('unexpected-response', (_req, res) => reject(new Error(`publisher upgrade refused: ${res.statusCode}`)));
          ws.once('error', reject);
          ws.on('close', (code) => {
            if (running) process.stderr.write(`publisher: camera ${i} closed ${code}\n`);
          });
          ws.on('message', () => {}); // settings / demand from the relay: not needed here
        }),
    ),
  );
}

function run(): void {
  running = true;
  const interval = 1000 / fps;
  const start = performance.now() + 5;
  const tick = () => {
    if (!running) return;
    const now = performance.now();
    let nextDue = Number.POSITIVE_INFINITY;
    for (const cam of cams) {
      let due = start + cam.phaseMs + cam.n * interval;
      while (due <= now) {
        if (now - due > lateMax) lateMax = now - due;
        const unit = units[cam.cursor]!;
        cam.cursor = (cam.cursor + 1) % units.length;
        const message = encodeFrame(
          { track: Track.Video, keyframe: unit.keyframe, catchUp: false, sequence: cam.sequence, captureTimeUs: epochMicrosNow() },
          unit.data,
        );
        cam.sequence = (cam.sequence + 1) >>> 0;
        if (cam.ws.readyState === WebSocket.OPEN) cam.ws.send(message, { binary: true, compress: false });
        if (cam.ws.bufferedAmount > maxBuffered) maxBuffered = cam.ws.bufferedAmount;
        cam.n++;
        due = start + cam.phaseMs + cam.n * interval;
      }
      if (due < nextDue) nextDue = due;
    }
    setTimeout(tick, Math.max(0, nextDue - performance.now()));
  };
  setTimeout(tick, 5);
}

process.on('message', (m: { type: string; cameras?: CameraTarget[]; clip?: string; fps?: number }) => {
  if (m.type === 'connect') {
    units = loadUnits(m.clip!);
    fps = m.fps ?? 30;
    connect(m.cameras!).then(
      () => reply({ type: 'connected' }),
      (err: Error) => {
        process.stderr.write(`publisher: ${err.message}\n`);
        process.exit(1);
      },
    );
  } else if (m.type === 'start') {
    run();
    reply({ type: 'started' });
  } else if (m.type === 'stats') {
    reply({ type: 'stats', sent: cams.map((c) => c.n), maxBufferedBytes: maxBuffered, lateMs: lateMax });
    maxBuffered = 0;
    lateMax = 0;
  }
});
process.on('SIGTERM', () => {
  running = false;
  process.exit(0);
});
process.on('disconnect', () => process.exit(0));
