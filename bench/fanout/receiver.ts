import WebSocket from 'ws';
import { reply } from '../lib/children.ts';
import { Histogram, epochMicrosNow, type HistogramData } from '../lib/stats.ts';

/**
 * A process of viewers: holds N WebSocket connections (to the relay or to the bare floor server),
 * reads every frame as fast as it comes, and acks like the player (last video sequence, every
 * 100 ms). Over a measured window it counts frames, sequence gaps (frames lost) and latency =
 * receive time - capture time from the frame header (same machine clock, sub-ms on both sides).
 *
 * IPC: {type:'connect', targets:[{url, protocols}]} -> 'connected' {failed};
 *      {type:'window-start'}; {type:'window-end'} -> 'report'.
 */

/** What a receiver process reports for a measured window ('report'). */
export interface ReceiverReport {
  connections: number;
  frames: number;
  minFrames: number;
  lost: number;
  viewersWithLoss: number;
  disorder: number;
  catchUp: number;
  closed: number[];
  histogram: HistogramData;
}

interface Target {
  url: string;
  protocols?: string[];
}

interface Conn {
  ws: WebSocket;
  lastSeq: number | undefined;
  frames: number;
  lost: number;
  catchUp: number;
  disorder: number;
  closedCode: number | undefined;
}

const conns: Conn[] = [];
const histogram = new Histogram();
let windowOn = false;
let ackTimer: NodeJS.Timeout | undefined;

function open(target: Target): Promise<Conn | undefined> {
  return new Promise((resolve) => {
    const ws = new WebSocket(target.url, target.protocols ?? [], { perMessageDeflate: false, skipUTF8Validation: true });
    const conn: Conn = { ws, lastSeq: undefined, frames: 0, lost: 0, catchUp: 0, disorder: 0, closedCode: undefined };
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (!isBinary || data.length < 16 || data[1] !== 1) return; // JSON (init/state) and audio
      const seq = data.readUInt32BE(4);
      if ((data[2]! & 2) !== 0) {
        conn.catchUp++;
        conn.lastSeq = seq;
        return;
      }
      const nowUs = epochMicrosNow();
      if (windowOn) {
        if (conn.lastSeq !== undefined) {
          const step = (seq - conn.lastSeq) >>> 0;
          if (step === 0 || step > 0x7fffffff) conn.disorder++;
          else conn.lost += step - 1;
        }
        conn.frames++;
        histogram.add((nowUs - Number(data.readBigUInt64BE(8))) / 1000);
      }
      conn.lastSeq = seq;
    });
    ws.on('close', (code) => (conn.closedCode = code));
    ws.on('error', () => {});
    ws.once('open', () => resolve(conn));
    ws.once('unexpected-response', () => resolve(undefined));
    ws.once('error', () => resolve(undefined));
  });
}

async function connectAll(targets: Target[]): Promise<number> {
  let failed = 0;
  for (let i = 0; i < targets.length; i += 25) {
    const batch = await Promise.all(targets.slice(i, i + 25).map(open));
    for (const c of batch) {
      if (c) conns.push(c);
      else failed++;
    }
  }
  ackTimer = setInterval(() => {
    for (const c of conns) {
      if (c.lastSeq !== undefined && c.ws.readyState === WebSocket.OPEN) c.ws.send(`{"type":"ack","sequence":${c.lastSeq}}`);
    }
  }, 100);
  return failed;
}

process.on('message', (m: { type: string; targets?: Target[] }) => {
  if (m.type === 'connect') {
    void connectAll(m.targets!).then((failed) => reply({ type: 'connected', failed }));
  } else if (m.type === 'window-start') {
    for (const c of conns) {
      c.frames = 0;
      c.lost = 0;
      c.disorder = 0;
    }
    histogram.reset();
    windowOn = true;
  } else if (m.type === 'window-end') {
    windowOn = false;
    const frames = conns.map((c) => c.frames);
    const report: ReceiverReport = {
      connections: conns.length,
      frames: frames.reduce((a, b) => a + b, 0),
      minFrames: Math.min(...frames),
      lost: conns.reduce((a, c) => a + c.lost, 0),
      viewersWithLoss: conns.filter((c) => c.lost > 0).length,
      disorder: conns.reduce((a, c) => a + c.disorder, 0),
      catchUp: conns.reduce((a, c) => a + c.catchUp, 0),
      closed: conns.flatMap((c) => (c.closedCode === undefined ? [] : [c.closedCode])),
      histogram: histogram.toJSON(),
    };
    reply({ type: 'report', ...report });
  }
});
process.on('SIGTERM', () => {
  if (ackTimer) clearInterval(ackTimer);
  process.exit(0);
});
process.on('disconnect', () => process.exit(0));
