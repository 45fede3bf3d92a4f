import { createHash, randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { reply } from '../lib/children.ts';

/**
 * A process of raw-drain viewers: each is a plain TCP socket that does the WebSocket upgrade by
 * hand and then reads and throws away every byte, never parsing a frame. The relay serves a viewer
 * that never acks by its byte budget alone (relay-server's ViewerSession), so a drain that reads
 * as fast as bytes come is a viewer that keeps up, at a fraction of the cost of a parsing one: the
 * 2000-viewer bench needs the machine's cores for the relays, not for its viewers. Every socket
 * reads into one static buffer (`onread`), so reading allocates nothing.
 *
 * The one thing a drain sends is an unsolicited empty pong every PONG_MS (RFC 6455 5.5.3 allows
 * it): the relay's heartbeat closes a socket that did not answer its previous ping (30 s apart),
 * and ws takes any pong as the answer, so no ping has to be found in the stream.
 *
 * `everyMs` > 0 reads each socket at most once per that many ms (a read returns false, which stops
 * reading, and one timer resumes every paused socket): fewer, larger reads for the same bytes, the
 * kernel's socket buffers holding the rest meanwhile.
 *
 * IPC: {type:'connect', targets:[url], everyMs?} -> 'connected' {failed, errors};
 *      {type:'window-start'}; {type:'window-end'} -> 'report' (DrainReport).
 */

export interface DrainReport {
  connections: number;
  /** bytes read over the window, all sockets */
  bytes: number;
  /** the least and most any one socket read over the window */
  minBytes: number;
  maxBytes: number;
  /** sockets that ended or failed after their upgrade */
  closed: number;
  /** reads (onread callbacks) over the window, all sockets */
  reads: number;
}

const PONG_MS = 10_000;
const READ_BUFFER = Buffer.allocUnsafe(256 * 1024);
/** FIN + pong, no payload, masked (a client's frames must be) with an all-zero key. */
const PONG = Buffer.from([0x8a, 0x80, 0, 0, 0, 0]);

interface Drain {
  socket: Socket;
  open: boolean;
  /** bytes read since the window started (or since the upgrade) */
  bytes: number;
}

const drains: Drain[] = [];
let reads = 0;
let everyMs = 0;
const paused: Socket[] = [];
let pongTimer: NodeJS.Timeout | undefined;

function upgradeRequest(url: URL, key: string): string {
  return (
    `GET ${url.pathname}${url.search} HTTP/1.1\r\n` +
    `Host: ${url.host}\r\n` +
    'Upgrade: websocket\r\nConnection: Upgrade\r\n' +
    `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`
  );
}

/** Resolves with the open drain, or with the reason its upgrade failed. */
function open(target: string): Promise<Drain | string> {
  const url = new URL(target);
  const key = randomBytes(16).toString('base64');
  const accept = createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
  return new Promise((resolve) => {
    let head = '';
    let settled = false;
    const drain: Drain = { socket: undefined as unknown as Socket, open: false, bytes: 0 };
    const fail = (why: string) => {
      if (settled) return;
      settled = true;
      drain.socket.destroy();
      resolve(why);
    };
    drain.socket = connect({
      host: url.hostname,
      port: Number(url.port),
      onread: {
        buffer: READ_BUFFER,
        callback: (nread: number, buf: Buffer) => {
          if (drain.open) {
            drain.bytes += nread;
            reads++;
            if (everyMs <= 0) return true;
            paused.push(drain.socket);
            return false;
          }
          // The response head, once per socket: whatever follows it is already stream bytes.
          head += buf.toString('latin1', 0, nread);
          const end = head.indexOf('\r\n\r\n');
          if (end < 0) {
            if (head.length > 8192) fail('no end to the upgrade response');
            return true;
          }
          const status = head.slice(0, head.indexOf('\r\n'));
          if (!/^HTTP\/1\.1 101 /.test(status)) fail(status);
          else if (!new RegExp(`^sec-websocket-accept: *${accept.replace(/[+/]/g, '\\$&')}\r?$`, 'im').test(head.slice(0, end))) fail('wrong Sec-WebSocket-Accept');
          else {
            drain.open = true;
            drain.bytes = head.length - end - 4;
            head = '';
            settled = true;
            resolve(drain);
          }
          return true;
        },
      },
    });
    drain.socket.setNoDelay(true);
    drain.socket.once('connect', () => drain.socket.write(upgradeRequest(url, key)));
    drain.socket.on('error', (err) => fail(err.message));
    drain.socket.on('close', () => {
      drain.open = false;
      fail('closed during the upgrade');
    });
  });
}

async function connectAll(targets: string[]): Promise<{ failed: number; errors: string[] }> {
  const errors: string[] = [];
  for (let i = 0; i < targets.length; i += 50) {
    for (const d of await Promise.all(targets.slice(i, i + 50).map(open))) {
      if (typeof d === 'string') errors.push(d);
      else drains.push(d);
    }
  }
  pongTimer = setInterval(() => {
    for (const d of drains) if (d.open) d.socket.write(PONG);
  }, PONG_MS);
  if (everyMs > 0) {
    setInterval(() => {
      for (const socket of paused.splice(0)) socket.resume();
    }, everyMs);
  }
  return { failed: errors.length, errors: [...new Set(errors)].slice(0, 5) };
}

process.on('message', (m: { type: string; targets?: string[]; everyMs?: number }) => {
  if (m.type === 'connect') {
    everyMs = m.everyMs ?? 0;
    void connectAll(m.targets!).then((r) => reply({ type: 'connected', ...r }));
  } else if (m.type === 'window-start') {
    for (const d of drains) d.bytes = 0;
    reads = 0;
  } else if (m.type === 'window-end') {
    const bytes = drains.map((d) => d.bytes);
    const report: DrainReport = {
      connections: drains.length,
      bytes: bytes.reduce((a, b) => a + b, 0),
      minBytes: Math.min(...bytes),
      maxBytes: Math.max(...bytes),
      closed: drains.filter((d) => !d.open).length,
      reads,
    };
    reply({ type: 'report', ...report });
  }
});
process.on('SIGTERM', () => {
  if (pongTimer) clearInterval(pongTimer);
  process.exit(0);
});
process.on('disconnect', () => process.exit(0));
