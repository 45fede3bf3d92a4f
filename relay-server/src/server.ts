import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import type { Hono } from 'hono';
import { createAccounts, type Accounts } from './accounts.ts';
import { createApp } from './app.ts';
import type { RelayConfig } from './config.ts';
import { listCameras } from './db/cameras.ts';
import { startCheckpointer } from './db/checkpointer.ts';
import { forgetIndexedCamera, openDatabase } from './db/client.ts';
import { createLogger, type Logger } from './logger.ts';
import { createMetrics } from './metrics.ts';
import { metricsListenerRoutes, observabilityRoutes } from './routes/observability.ts';
import { createWebRoutes } from './routes/web.ts';
import type { LiveCameras, RecordingControl } from './services.ts';
import { InProcessHub } from './streams/in-process-hub.ts';
import { startClusterNode } from './cluster/index.ts';
import { startIndexWriter } from './recording/index-writer.ts';
import { Recorder } from './recording/recorder.ts';
import { createRecordingMetrics } from './recording/recording-metrics.ts';
import { attachWebSockets } from './ws/index.ts';
import { ConnectionRegistry } from './ws/connection-registry.ts';
import { preparedFrames } from './ws/prepared-frames.ts';

/**
 * The relay process in one call: database (migrated), accounts, stream hub, the Hono app, the HTTP
 * server and the WebSocket endpoints on it. Apart from cli.ts so tests and embedders start a relay
 * in-process; the CLI adds signals and printing.
 */

export interface StartOptions {
  log?: Logger;
  /** the browser app (static assets and pages); mounted after /api */
  web?: Hono;
  /** how often live grants and device credentials are re-checked (default 60 s) */
  sweepMs?: number;
}

export interface RunningRelay {
  /** where this relay listens, e.g. http://127.0.0.1:8080 (PUBLIC_URL is the outside view) */
  url: string;
  port: number;
  /** where /metrics is served openly (METRICS_PORT), e.g. http://127.0.0.1:9464; undefined without one */
  metricsUrl: string | undefined;
  /** the admin account; generatedPassword is set only on the first start without PICAM_ADMIN_PASSWORD */
  admin: { username: string; generatedPassword: string | null };
  /** operator tools that act without an HTTP request (see Accounts.provisionCamera) */
  provisionCamera: Accounts['provisionCamera'];
  cameraExists(cameraId: string): Promise<boolean>;
  /** 1001 to every WebSocket, stop accepting, close the database */
  close(): Promise<void>;
}

export async function startRelay(config: RelayConfig, options: StartOptions = {}): Promise<RunningRelay> {
  const log = options.log ?? createLogger(config.logLevel);
  const startedAt = Date.now();
  const opened = await openDatabase({ dataDir: config.dataDir, databaseUrl: config.databaseUrl });
  const metrics = createMetrics();
  // The local SQLite's checkpoints run beside the event loop, not on it (db/checkpointer.ts).
  const checkpoints = startCheckpointer(opened.sqlite, {
    checkpointed: ({ ms }) => metrics.sqliteCheckpointSeconds.observe(ms / 1000),
    failed: (err) => log.warn({ err }, 'database: the checkpoint thread failed; the relay checkpoints on its own connection again'),
  });
  // So do the recorder's index commits (recording/index-writer.ts).
  const indexWriter = startIndexWriter(opened.index, opened.sqlite, {
    failed: (err) => log.warn({ err }, 'recording: the index thread failed; the relay commits the index on its own connection again'),
  });
  const database = {
    ...opened,
    close: async () => {
      await indexWriter.stop();
      await checkpoints.stop();
      await opened.close();
    },
  };
  const inProcessHub = new InProcessHub({ metrics, encoder: preparedFrames });
  // Cluster mode (NATS_URL): the hub and the revocations reach the other nodes (cluster/index.ts).
  const cluster = config.natsUrl
    ? await startClusterNode({ natsUrl: config.natsUrl, nodeId: config.nodeId, pool: database.pool, inner: inProcessHub, log, registry: metrics.registry }).catch(
        async (err: unknown) => {
          // The checkpoint thread would keep an embedding process alive.
          await database.close();
          throw err;
        },
      )
    : undefined;
  const hub = cluster?.hub ?? inProcessHub;
  // Before accounts (it hears of record changes through the getter) and before any agent connects:
  // start() repairs what an unclean stop left and observes the cameras that record.
  const recorder = new Recorder({ db: database.index, indexWriter, hub, config: config.recording, log, metrics: createRecordingMetrics(metrics.registry) });
  // With Postgres the recording index is not in the registry's database: a deleted camera's index goes here.
  const localRecording: RecordingControl = {
    setMode: (cameraId, mode) => recorder.setMode(cameraId, mode),
    cameraDeleted(cameraId) {
      forgetIndexedCamera(database, cameraId);
      recorder.cameraDeleted(cameraId);
    },
  };
  // Created before accounts: the accounts side reaches the live side only through this seam. In a
  // cluster both are broadcast: the camera's owner records, whichever node the setting was made on.
  const connections = new ConnectionRegistry(hub);
  const clusterLive = cluster?.liveCameras(connections, localRecording);
  const liveCameras: LiveCameras = clusterLive ?? connections;
  const recording = clusterLive?.recordingControl() ?? localRecording;
  const live = (): LiveCameras => liveCameras;

  let accounts: Accounts;
  try {
    recorder.start(await listCameras(database.db));
    accounts = await createAccounts({ db: database.db, index: database.index, config, log, live, recorder: () => recording, loginLimits: cluster?.loginLimits });
  } catch (err) {
    await recorder.close();
    await database.close();
    throw err;
  }
  const admin = await accounts.bootstrapAdmin();

  const observability = observabilityRoutes({
    metrics,
    nodeId: config.nodeId,
    totals: () => hub.totals(),
    databaseOk: () => database.ping(),
    startedAt,
    metricsToken: config.metricsToken,
  });
  // The browser app (built into web/dist on first use); embedders and tests may pass their own.
  const web = options.web ?? (await createWebRoutes({ publicUrl: config.publicUrl }));
  const app = createApp({ log, observability, api: accounts.api, web });

  const server = await listen(app, config);
  const port = (server.address() as AddressInfo).port;
  let metricsServer: Server | undefined;
  try {
    metricsServer = config.metricsListen ? await listen(metricsListenerRoutes(metrics), config.metricsListen) : undefined;
  } catch (err) {
    server.close();
    accounts.close();
    await recorder.close();
    await database.close();
    throw err;
  }
  const metricsUrl = metricsServer
    ? `http://${displayHost(config.metricsListen!.host)}:${(metricsServer.address() as AddressInfo).port}`
    : undefined;
  const sockets = attachWebSockets(server, {
    connections,
    hub,
    access: accounts.access,
    registry: accounts.registry,
    metrics,
    log,
    trustProxy: config.trustProxy,
    socketLimits: config.socketLimits,
    agentHelloTimeoutMs: config.agentHelloTimeoutMs,
    sweepMs: options.sweepMs,
    backfill: recorder,
  });
  const url = `http://${displayHost(config.host)}:${port}`;
  log.info({ url, publicUrl: config.publicUrl, dataDir: config.dataDir, metricsUrl }, 'relay listening');

  let closing: Promise<void> | undefined;
  async function close(): Promise<void> {
    const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
    const metricsStopped = new Promise<void>((resolve) => (metricsServer ? metricsServer.close(() => resolve()) : resolve()));
    metricsServer?.closeAllConnections();
    await sockets.close();
    await cluster?.close();
    server.closeAllConnections();
    await stopped;
    await metricsStopped;
    accounts.close();
    // After the agents are gone: what they sent last is written and indexed before the database closes.
    await recorder.close();
    await database.close();
    log.info('relay stopped');
  }

  return {
    url,
    port,
    metricsUrl,
    admin,
    provisionCamera: (name, origin, options) => accounts.provisionCamera(name, origin, options),
    cameraExists: async (cameraId) => (await accounts.registry.get(cameraId)) !== undefined,
    close: () => (closing ??= close()),
  };
}

function listen(app: Hono, config: { port: number; host: string }): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = serve({ fetch: app.fetch, port: config.port, hostname: config.host }) as Server;
    server.once('error', reject);
    server.once('listening', () => {
      server.off('error', reject);
      resolve(server);
    });
  });
}

/** A wildcard bind is reached as localhost; IPv6 literals need brackets in a URL. */
function displayHost(host: string): string {
  if (host === '0.0.0.0' || host === '::') return 'localhost';
  return host.includes(':') ? `[${host}]` : host;
}
