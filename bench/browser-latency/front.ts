import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import { connect } from 'node:net';
import { join } from 'node:path';

/**
 * A build of the web app (a `web/dist` folder) in front of a relay, for before/after comparisons in
 * one run (ab-first-picture.ts, browser-latency.ts `--ab=`): it serves that build's index.html,
 * app.js and app.css and pipes everything else (the API, the live WebSocket) to the relay.
 */

/** One build's front: its own page and assets, the relay for the rest. */
export async function startFront(dist: string, relay: URL): Promise<{ url: string; server: Server }> {
  const index = readFileSync(join(dist, 'index.html'));
  const assets: Record<string, [Buffer, string]> = {
    '/app.js': [readFileSync(join(dist, 'app.js')), 'text/javascript; charset=utf-8'],
    '/app.css': [readFileSync(join(dist, 'app.css')), 'text/css; charset=utf-8'],
  };
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://front').pathname;
    const asset = assets[path];
    if (path.startsWith('/s/') || path.startsWith('/cameras/')) res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-cache' }).end(index);
    else if (asset) res.writeHead(200, { 'content-type': asset[1] }).end(asset[0]);
    else {
      const upstream = request({ host: relay.hostname, port: relay.port, path: req.url, method: req.method, headers: req.headers }, (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      });
      upstream.on('error', () => res.destroy());
      req.pipe(upstream);
    }
  });
  // The live WebSocket: the upgrade request as it came (Host and Origin are the front's, consistently), then bytes both ways.
  server.on('upgrade', (req, socket, head) => {
    const upstream = connect(Number(relay.port), relay.hostname, () => {
      const headers = Object.entries(req.headers).map(([k, v]) => `${k}: ${Array.isArray(v) ? v.join(', ') : v}`);
      upstream.write(`${req.method} ${req.url} HTTP/1.1\r\n${headers.join('\r\n')}\r\n\r\n`);
      upstream.write(head);
      socket.pipe(upstream).pipe(socket);
    });
    upstream.on('error', () => socket.destroy());
    socket.on('error', () => upstream.destroy());
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  return { url: `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`, server };
}

