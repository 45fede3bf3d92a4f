import { createServer } from 'node:http';
import { WebSocketServer, type WebSocket } from 'ws';

/**
 * The fan-out FLOOR: the least a WebSocket fan-out can do with `ws`. A publisher connects to
 * /api/agent?camera=<id>; viewers to /api/cameras/<id>/live. Every binary message from the
 * publisher goes, as the same Buffer, to every viewer of that camera with
 * `ws.send(buf, { binary: true, compress: false })`. No auth, no validation, no GOP cache, no
 * backpressure: what the relay does beyond this is what its extra CPU buys.
 * Prints `bare-ws listening on <url>` on stdout.
 */

const BINARY = { binary: true, compress: false } as const;
const viewers = new Map<string, Set<WebSocket>>();
const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: 8 * 1024 * 1024 });
const server = createServer((_req, res) => {
  res.writeHead(404).end();
});

server.on('upgrade', (req, socket, head) => {
  const url = new URL(req.url ?? '/', 'http://bare.invalid');
  const live = /^\/api\/cameras\/([^/]+)\/live$/.exec(url.pathname);
  if (url.pathname === '/api/agent') {
    const camera = url.searchParams.get('camera') ?? 'default';
    wss.handleUpgrade(req, socket, head, (ws) => {
      ws.on('message', (data: Buffer, isBinary: boolean) => {
        if (!isBinary) return;
        const set = viewers.get(camera);
        if (set) for (const viewer of set) viewer.send(data, BINARY);
      });
    });
  } else if (live) {
    const camera = live[1]!;
    wss.handleUpgrade(req, socket, head, (ws) => {
      let set = viewers.get(camera);
      if (!set) viewers.set(camera, (set = new Set()));
      set.add(ws);
      ws.on('close', () => set.delete(ws));
      ws.on('error', () => {});
    });
  } else {
    socket.destroy();
  }
});

server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  if (address && typeof address === 'object') process.stdout.write(`bare-ws listening on http://127.0.0.1:${address.port}\n`);
});
process.on('SIGTERM', () => process.exit(0));
