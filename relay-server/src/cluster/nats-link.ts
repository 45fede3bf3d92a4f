import { connect, headers as natsHeaders, type Msg, type MsgHdrs, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import type { Logger } from '../logger.ts';

/**
 * This node's one NATS connection, seen as "up" or "down". It reconnects forever; subscriptions are
 * kept here and made again on whatever connection there is (the client restores them across a
 * reconnect itself; the first connection may come after they were asked for). While down, nothing is
 * published: the client would buffer media and flush seconds of stale frames at reconnect.
 */

export interface LinkSubscription {
  unsubscribe(): void;
}

export interface NatsLinkOptions {
  servers: string[];
  nodeId: string;
  log: Logger;
}

interface Wanted {
  subject: string;
  handler: (msg: Msg) => void;
  sub: Subscription | undefined;
}

/** How long start() waits for the first connection before carrying on without it. */
const FIRST_CONNECT_WAIT_MS = 2_000;
/** How long close() lets the connection drain. */
const CLOSE_WAIT_MS = 1_000;
const FIRST_CONNECT_RETRY_MS = 1_000;

export class NatsLink {
  private nc: NatsConnection | undefined;
  private up = false;
  private closed = false;
  private readonly wanted = new Set<Wanted>();
  private readonly upListeners: Array<() => void> = [];
  private readonly downListeners: Array<() => void> = [];
  private readonly options: NatsLinkOptions;
  private readonly log: Logger;

  constructor(options: NatsLinkOptions) {
    this.options = options;
    this.log = options.log.child({ part: 'nats' });
  }

  get connected(): boolean {
    return this.up;
  }

  /** Connects in the background; resolves once connected or after a few seconds, whichever is first. */
  async start(): Promise<void> {
    const connected = this.run();
    await Promise.race([connected, new Promise<void>((resolve) => setTimeout(resolve, FIRST_CONNECT_WAIT_MS).unref())]);
  }

  onUp(listener: () => void): void {
    this.upListeners.push(listener);
  }

  onDown(listener: () => void): void {
    this.downListeners.push(listener);
  }

  subscribe(subject: string, handler: (msg: Msg) => void): LinkSubscription {
    const wanted: Wanted = { subject, handler, sub: undefined };
    this.wanted.add(wanted);
    if (this.nc) this.attach(this.nc, wanted);
    return {
      unsubscribe: () => {
        if (!this.wanted.delete(wanted)) return;
        try {
          wanted.sub?.unsubscribe();
        } catch {
          // The connection is closing: the subscription goes with it.
        }
      },
    };
  }

  /** false when not sent (link down, or the client refused it, e.g. over max_payload). */
  publish(subject: string, data: Uint8Array, hdrs?: MsgHdrs): boolean {
    if (!this.up || !this.nc) return false;
    try {
      this.nc.publish(subject, data, hdrs ? { headers: hdrs } : undefined);
      return true;
    } catch (err) {
      this.log.warn({ err: (err as Error).message, subject, bytes: data.byteLength }, 'NATS publish refused');
      return false;
    }
  }

  /** Rejects when the link is down, nobody answers (no responders) or the answer is late. */
  async request(subject: string, data: Uint8Array, timeoutMs: number): Promise<Msg> {
    if (!this.up || !this.nc) throw new Error('NATS link down');
    return this.nc.request(subject, data, { timeout: timeoutMs });
  }

  /** The payload limit the server announced (a GOP reply must fit). */
  get maxPayload(): number {
    return this.nc?.info?.max_payload ?? 1024 * 1024;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.up = false;
    const nc = this.nc;
    if (!nc) return;
    // Draining sends what is queued; with the server unreachable it would wait for a reconnect.
    const drained = nc.drain().catch(() => {});
    const late = new Promise<void>((resolve) => setTimeout(resolve, CLOSE_WAIT_MS).unref());
    await Promise.race([drained, late]);
    if (!nc.isClosed()) await nc.close().catch(() => {});
  }

  /** The first connection, tried until it comes or close() is called; from then on the client reconnects itself. */
  private async run(): Promise<void> {
    let nc: NatsConnection | undefined;
    let attempts = 0;
    while (!nc) {
      if (this.closed) return;
      try {
        nc = await connect({
          ...natsServerOptions(this.options.servers),
          name: this.options.nodeId,
          // A node's own broadcasts (control, demand) are applied locally before they are sent.
          noEcho: true,
          maxReconnectAttempts: -1,
          reconnectTimeWait: 500,
          reconnectJitter: 200,
          // A half-open connection is noticed within ~10 s, not the client's default 4 minutes.
          pingInterval: 5_000,
          maxPingOut: 2,
        });
      } catch (err) {
        if (attempts++ === 0) this.log.warn({ err: (err as Error).message, servers: redactNatsUrls(this.options.servers) }, 'NATS unreachable: serving own cameras only, retrying');
        await new Promise((resolve) => setTimeout(resolve, FIRST_CONNECT_RETRY_MS).unref());
      }
    }
    if (this.closed) {
      await nc.close();
      return;
    }
    this.nc = nc;
    for (const wanted of this.wanted) this.attach(nc, wanted);
    this.setUp(true, nc.getServer());
    void this.watch(nc);
  }

  private async watch(nc: NatsConnection): Promise<void> {
    for await (const status of nc.status()) {
      switch (status.type) {
        case 'disconnect':
          this.setUp(false, status.server);
          break;
        case 'reconnect':
          this.setUp(true, status.server);
          break;
        case 'error':
          this.log.warn({ err: status.error.message }, 'NATS error');
          break;
        case 'slowConsumer':
          this.log.warn({ subject: status.sub.getSubject(), pending: status.pending }, 'NATS slow consumer');
          break;
        default:
          break;
      }
    }
    if (!this.closed) this.setUp(false, 'closed');
  }

  private setUp(up: boolean, server: string): void {
    if (this.up === up) return;
    this.up = up;
    if (up) this.log.info({ server, node: this.options.nodeId }, 'NATS connected');
    else this.log.warn({ server, node: this.options.nodeId }, 'NATS disconnected: serving own cameras only until it is back');
    for (const listener of up ? this.upListeners : this.downListeners) {
      try {
        listener();
      } catch (err) {
        this.log.error({ err }, 'NATS state listener failed');
      }
    }
  }

  private attach(nc: NatsConnection, wanted: Wanted): void {
    wanted.sub = nc.subscribe(wanted.subject, {
      callback: (err, msg) => {
        if (err) return;
        try {
          wanted.handler(msg);
        } catch (error) {
          this.log.error({ err: error, subject: msg.subject }, 'NATS message handler failed');
        }
      },
    });
  }
}

/** Headers carrying one value, made once and reused for every message they go with. */
export function singleHeader(name: string, value: string): MsgHdrs {
  const hdrs = natsHeaders();
  hdrs.set(name, value);
  return hdrs;
}

/**
 * NATS_URL's servers, and the credentials written in them (`nats://user:password@host:4222`, or
 * `nats://token@host:4222`): the client does not read credentials from a server URL, so they are
 * taken out here and passed as its options. Every server of the list gets the same ones.
 */
function natsServerOptions(urls: readonly string[]): { servers: string[]; user?: string; pass?: string; token?: string } {
  let credentials: { user?: string; pass?: string; token?: string } = {};
  const servers = urls.map((text) => {
    const url = new URL(text);
    if (url.username !== '' || url.password !== '') {
      const user = decodeURIComponent(url.username);
      credentials = url.password === '' ? { token: user } : { user, pass: decodeURIComponent(url.password) };
      url.username = '';
      url.password = '';
    }
    return url.toString().replace(/\/$/, '');
  });
  return { servers, ...credentials };
}

/** NATS_URL as it may be logged: no password or token. */
export function redactNatsUrls(urls: readonly string[]): string[] {
  return natsServerOptions(urls).servers;
}
