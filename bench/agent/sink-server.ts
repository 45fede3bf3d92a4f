import { createServer } from 'node:http';
import { WebSocketServer } from 'ws';
import { reply } from '../lib/children.ts';
import { epochMicrosNow } from '../lib/stats.ts';

/**
 * A loopback stand-in for the relay's agent endpoint: accepts any Bearer on /api/agent and records,
 * per binary frame, [sequence, capture time µs, receive time µs, payload bytes, keyframe]. Nothing
 * else (no validation, no fan-out), so what it measures is the agent and the hop to it.
 *
 * IPC: -> 'listening' {url}; {type:'report'} -> 'report' {frames, texts}.
 */

const frames: Array<[number, number, number, number, number]> = [];
let texts = 0;
const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: 16 * 1024 * 1024 });
const server = createServer((_req, res) => {
  res.writeHead(404).end();
});
server.on('upgrade', (req, socket, head) => {
  if (!req.url?.startsWith('/api/agent')) {
    socket.destroy();
    return;
  }
  wss.handleUpgrade(req, socket, head, (ws) => {
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (!isBinary) {
        texts++;
        return;
      }
      if (data.length < 16) return; // the Node floor's raw reads carry no header
      const recvUs = epochMicrosNow();
      frames.push([data.readUInt32BE(4), Number(data.readBigUInt64BE(8)), recvUs, data.length - 16, data[2]! & 1]);
    });
    ws.on('error', () => {});
  });
});
server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  if (address && typeof address === 'object') reply({ type: 'listening', url: `http://127.0.0.1:${address.port}` });
});
process.on('message', (m: { type: string }) => {
  if (m.type === 'report') reply({ type: 'report', frames, texts });
  else if (m.type === 'count') reply({ type: 'count', frames: frames.length });
});
process.on('SIGTERM', () => process.exit(0));
process.on('disconnect', () => process.exit(0));
