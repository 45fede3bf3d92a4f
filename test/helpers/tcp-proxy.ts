import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';

/**
 * A TCP proxy on 127.0.0.1 in front of a real server, whose link a test can cut: `cut()` drops
 * every connection through it and refuses new ones (accepted, then closed at once, like a path
 * that resets) until `restore()`. Stands for a camera's Wi-Fi or uplink going away.
 *
 * `uplinkBytesPerSecond` makes the client -> server direction a slow uplink: bytes wait in the
 * proxy (as in a home router's buffer, up to `uplinkBufferBytes`, then the client is paused and
 * its own socket fills) and go on at that rate.
 */
export interface TcpProxyOptions {
  uplinkBytesPerSecond?: number;
  uplinkBufferBytes?: number;
}

/** How often a throttled direction passes bytes on. */
const THROTTLE_TICK_MS = 5;
export class TcpProxy {
  readonly port: number;
  private readonly server: Server;
  private readonly pairs = new Set<[Socket, Socket]>();
  private down = false;
  /** connections accepted and passed through, for tests */
  connections = 0;
  /** connections refused while cut */
  refused = 0;

  private constructor(server: Server, port: number) {
    this.server = server;
    this.port = port;
  }

  private options: TcpProxyOptions = {};

  static async start(targetPort: number, targetHost = '127.0.0.1', options: TcpProxyOptions = {}): Promise<TcpProxy> {
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const proxy = new TcpProxy(server, (server.address() as AddressInfo).port);
    proxy.options = options;
    server.on('connection', (client) => proxy.accept(client, targetPort, targetHost));
    return proxy;
  }

  get isCut(): boolean {
    return this.down;
  }

  cut(): void {
    this.down = true;
    for (const [a, b] of this.pairs) {
      a.destroy();
      b.destroy();
    }
    this.pairs.clear();
  }

  restore(): void {
    this.down = false;
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(client: Socket, targetPort: number, targetHost: string): void {
    client.on('error', () => {});
    if (this.down) {
      this.refused += 1;
      client.destroy();
      return;
    }
    this.connections += 1;
    const upstream = connect(targetPort, targetHost);
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
    const pair: [Socket, Socket] = [client, upstream];
    this.pairs.add(pair);
    const drop = () => {
      this.pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.once('close', drop);
    upstream.once('close', drop);
    if (this.options.uplinkBytesPerSecond === undefined) client.pipe(upstream);
    else throttle(client, upstream, this.options.uplinkBytesPerSecond, this.options.uplinkBufferBytes ?? 1024 * 1024);
    upstream.pipe(client);
  }
}

/** `from` -> `to` at `bytesPerSecond`, holding at most `bufferBytes` before pausing `from`. */
function throttle(from: Socket, to: Socket, bytesPerSecond: number, bufferBytes: number): void {
  const queue: Buffer[] = [];
  let queued = 0;
  let last = performance.now();
  let credit = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    credit = Math.min(credit + ((now - last) * bytesPerSecond) / 1000, bytesPerSecond / 10);
    last = now;
    while (queue.length > 0 && credit >= 1) {
      const head = queue[0]!;
      const n = Math.min(head.length, Math.floor(credit));
      to.write(head.subarray(0, n));
      credit -= n;
      queued -= n;
      if (n === head.length) queue.shift();
      else queue[0] = head.subarray(n);
    }
    if (queued < bufferBytes / 2 && from.isPaused()) from.resume();
  }, THROTTLE_TICK_MS);
  from.on('data', (chunk: Buffer) => {
    queue.push(chunk);
    queued += chunk.length;
    if (queued >= bufferBytes) from.pause();
  });
  from.once('close', () => clearInterval(timer));
  to.once('close', () => clearInterval(timer));
}
