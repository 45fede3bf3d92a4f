import WebSocket from 'ws';
import { reply } from '../lib/children.ts';
import { epochMicrosNow } from '../lib/stats.ts';

/**
 * A viewer of the OLD pipeline (camera TCP -> websockify): the stream is raw H.264 bytes cut
 * wherever websockify's reads cut it, with no header and no timestamps. It records, per message,
 * the byte count so far and the receive time; the bench matches those against the camera's write
 * log to get per-frame latency.
 *
 * IPC: {type:'connect', url} -> 'connected' {ok}; {type:'record'}; {type:'report'} -> 'report'.
 */

let ws: WebSocket | undefined;
let bytes = 0;
let recording = false;
let closedCode: number | undefined;
const samples: Array<[number, number]> = [];

process.on('message', (m: { type: string; url?: string }) => {
  if (m.type === 'connect') {
    ws = new WebSocket(m.url!, { perMessageDeflate: false });
    ws.binaryType = 'nodebuffer';
    ws.on('message', (data: Buffer) => {
      bytes += data.length;
      if (recording) samples.push([bytes, epochMicrosNow()]);
    });
    ws.on('close', (code) => (closedCode = code));
    ws.on('error', () => {});
    ws.once('open', () => reply({ type: 'connected', ok: true }));
    ws.once('unexpected-response', () => reply({ type: 'connected', ok: false }));
    ws.once('error', () => reply({ type: 'connected', ok: false }));
  } else if (m.type === 'record') {
    recording = true;
  } else if (m.type === 'report') {
    reply({ type: 'report', bytes, samples, closedCode: closedCode ?? null });
  } else if (m.type === 'close') {
    ws?.close(1000);
    reply({ type: 'closing' });
  }
});
process.on('SIGTERM', () => process.exit(0));
process.on('disconnect', () => process.exit(0));
