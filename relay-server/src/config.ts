import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { z } from 'zod';
import { RECORD_MODES, type RecordMode } from '@picam/protocol';
import { TrustedProxies } from './client-address.ts';

/**
 * The relay's whole configuration, parsed and validated once at start-up from the environment
 * (flags on the CLI are mapped onto the same names). A bad value stops the process with a message
 * naming the variable, before anything listens.
 */
const envSchema = z.object({
  PORT: z.coerce.number().int().min(0).max(65535).default(8080),
  HOST: z.string().min(1).default('0.0.0.0'),
  DATA_DIR: z.string().min(1).default('./data'),
  PUBLIC_URL: z.url().optional(),
  PICAM_ADMIN_PASSWORD: z.string().min(8, 'PICAM_ADMIN_PASSWORD must be at least 8 characters').optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** seconds an enrollment token stays valid */
  ENROLLMENT_TTL: z.coerce.number().int().min(60).max(7 * 24 * 3600).default(3600),
  /** seconds a login session lasts */
  SESSION_TTL: z.coerce.number().int().min(60).max(90 * 24 * 3600).default(7 * 24 * 3600),
  /** password hashes per second for sign-in attempts, all clients together (over it: 429) */
  LOGIN_HASHES_PER_SECOND: z.coerce.number().int().min(1).max(1000).default(4),
  /** days the audit log keeps a row */
  AUDIT_RETAIN_DAYS: z.coerce.number().int().min(1).max(3650).default(90),
  /**
   * which peers may set X-Forwarded-For/-Proto/-Host: `1`/`true` = loopback only, or a list of
   * addresses and CIDR ranges (`127.0.0.1,10.0.0.0/8`); unset/`0`/`false` = none
   */
  TRUST_PROXY: z
    .string()
    .default('false')
    .transform((v, ctx) => {
      try {
        return TrustedProxies.parse(v);
      } catch (err) {
        ctx.addIssue({ code: 'custom', message: (err as Error).message });
        return z.NEVER;
      }
    }),
  // ---- live sockets: caps per holder and per address, and how fast an address may open them.
  // 0 turns a cap off (load tests); a share's own maxViewers applies on top of MAX_VIEWERS_PER_SHARE.
  // The defaults leave room for honest use: a grid of 64 cameras in one tab, a household's tabs
  // behind one NAT address, a link passed round a family, a site with dozens of Pis behind one
  // router, and a grid that reconnects every tile each time its tab comes back into view.
  MAX_VIEWERS_PER_SESSION: cap(64),
  MAX_VIEWERS_PER_USER: cap(128),
  MAX_VIEWERS_PER_SHARE: cap(100),
  MAX_VIEWERS_PER_ADDRESS: cap(128),
  MAX_AGENTS_PER_ADDRESS: cap(64),
  /** WebSocket upgrades (viewers and agents, refused ones included) per client address per minute */
  WS_UPGRADES_PER_MINUTE: cap(600),
  /** seconds an agent socket may stay open without sending `hello` */
  AGENT_HELLO_TIMEOUT: z.coerce.number().min(0.1).max(60).default(5),
  // ---- /metrics: never on the public port unless METRICS_TOKEN is presented as a Bearer token
  /** serve /metrics on its own listener at this port (0: any free port) */
  METRICS_PORT: z.coerce.number().int().min(0).max(65535).optional(),
  METRICS_HOST: z.string().min(1).default('127.0.0.1'),
  METRICS_TOKEN: z.string().min(16, 'METRICS_TOKEN must be at least 16 characters').optional(),
  // ---- recording (relay-server/src/recording/)
  /** where segment files go; default DATA_DIR/recordings */
  RECORDINGS_DIR: z.string().min(1).optional(),
  /** `record` of a camera without its own setting */
  RECORD_DEFAULT: z.enum(RECORD_MODES).default('off'),
  /** days a recording is kept */
  RECORD_RETAIN_DAYS: z.coerce.number().min(0.001).max(3650).default(7),
  /** bytes all recordings may take; unset: whatever keeps 10 % of the disk free */
  RECORD_MAX_BYTES: z.coerce.number().int().min(1).optional(),
  /** seconds of a segment file (it ends at the first keyframe past this) */
  RECORD_SEGMENT_SECONDS: z.coerce.number().int().min(2).max(3600).default(300),
  // ---- more than one machine (docs/ARCHITECTURE.md): the registry in Postgres, nodes talk over NATS
  /** postgres://user:password@host:port/database: the registry (users, cameras, ...) in Postgres; unset: SQLite in DATA_DIR */
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'DATABASE_URL must be a postgres:// (or postgresql://) URL')
    .optional(),
  /** nats://host:port[,nats://host:port...]: cluster mode (needs DATABASE_URL) */
  NATS_URL: z
    .string()
    .transform((v) => v.split(',').map((s) => s.trim()).filter((s) => s.length > 0))
    .pipe(z.array(z.string().regex(/^(nats|tls):\/\/\S+$/, 'NATS_URL: nats://host:port, comma-separated')).min(1, 'NATS_URL: at least one nats:// URL'))
    .optional(),
  /** this node's name in the cluster; default: host name and PORT */
  NODE_ID: z
    .string()
    .regex(/^[A-Za-z0-9_:.-]{1,100}$/, 'NODE_ID: 1-100 of A-Z a-z 0-9 _ : . -')
    .optional(),
});

function cap(defaultValue: number) {
  return z.coerce.number().int().min(0).max(1_000_000).default(defaultValue);
}

/** Caps on live sockets (ws/socket-limits.ts); 0 means no cap. */
export interface SocketLimitsConfig {
  viewersPerSession: number;
  viewersPerUser: number;
  viewersPerShare: number;
  viewersPerAddress: number;
  agentsPerAddress: number;
  upgradesPerMinute: number;
}

export interface RelayConfig {
  port: number;
  host: string;
  dataDir: string;
  /** where browsers reach the relay; used for Origin checks, share URLs and enroll commands */
  publicUrl: string | undefined;
  adminPassword: string | undefined;
  logLevel: z.infer<typeof envSchema>['LOG_LEVEL'];
  enrollmentTtlSeconds: number;
  sessionTtlSeconds: number;
  /** global cap on sign-in password hashes per second (auth/login.ts) */
  loginHashesPerSecond: number;
  auditRetainDays: number;
  /** the TCP peers whose X-Forwarded-* headers are believed (client-address.ts) */
  trustProxy: TrustedProxies;
  socketLimits: SocketLimitsConfig;
  agentHelloTimeoutMs: number;
  /** where /metrics is served apart from the public port; undefined: no such listener */
  metricsListen: { port: number; host: string } | undefined;
  /** a Bearer token that opens /metrics on the public port; undefined: closed there */
  metricsToken: string | undefined;
  recording: RecordingConfig;
  /** DATABASE_URL: the registry in Postgres; undefined: SQLite in dataDir */
  databaseUrl?: string;
  /** NATS_URL: cluster mode (requires databaseUrl); undefined: one process, no NATS */
  natsUrl?: string[];
  /** NODE_ID: this node's name in the cluster (default `<host name>:<PORT>`) */
  nodeId: string;
}

export interface RecordingConfig {
  dir: string;
  /** for cameras whose own `record` is unset */
  defaultMode: RecordMode;
  retainMs: number;
  /** undefined: keep 10 % of the disk free instead */
  maxBytes: number | undefined;
  /** a segment ends at the first keyframe past this (µs of capture time) */
  segmentUs: number;
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): RelayConfig {
  const result = envSchema.safeParse(env);
  if (!result.success) {
    const lines = result.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
    throw new ConfigError(`invalid relay configuration:\n${lines.join('\n')}`);
  }
  const e = result.data;
  if (e.NATS_URL !== undefined && e.DATABASE_URL === undefined) {
    throw new ConfigError(
      'invalid relay configuration:\n  NATS_URL: cluster mode needs a shared registry: set DATABASE_URL=postgres://... as well (SQLite belongs to one node)',
    );
  }
  return {
    port: e.PORT,
    host: e.HOST,
    dataDir: resolve(e.DATA_DIR),
    publicUrl: e.PUBLIC_URL?.replace(/\/+$/, ''),
    adminPassword: e.PICAM_ADMIN_PASSWORD,
    logLevel: e.LOG_LEVEL,
    enrollmentTtlSeconds: e.ENROLLMENT_TTL,
    sessionTtlSeconds: e.SESSION_TTL,
    loginHashesPerSecond: e.LOGIN_HASHES_PER_SECOND,
    auditRetainDays: e.AUDIT_RETAIN_DAYS,
    trustProxy: e.TRUST_PROXY,
    socketLimits: {
      viewersPerSession: e.MAX_VIEWERS_PER_SESSION,
      viewersPerUser: e.MAX_VIEWERS_PER_USER,
      viewersPerShare: e.MAX_VIEWERS_PER_SHARE,
      viewersPerAddress: e.MAX_VIEWERS_PER_ADDRESS,
      agentsPerAddress: e.MAX_AGENTS_PER_ADDRESS,
      upgradesPerMinute: e.WS_UPGRADES_PER_MINUTE,
    },
    agentHelloTimeoutMs: Math.round(e.AGENT_HELLO_TIMEOUT * 1000),
    metricsListen: e.METRICS_PORT === undefined ? undefined : { port: e.METRICS_PORT, host: e.METRICS_HOST },
    metricsToken: e.METRICS_TOKEN,
    recording: {
      dir: resolve(e.RECORDINGS_DIR ?? `${e.DATA_DIR}/recordings`),
      defaultMode: e.RECORD_DEFAULT,
      retainMs: Math.round(e.RECORD_RETAIN_DAYS * 24 * 3600 * 1000),
      maxBytes: e.RECORD_MAX_BYTES,
      segmentUs: e.RECORD_SEGMENT_SECONDS * 1_000_000,
    },
    databaseUrl: e.DATABASE_URL,
    natsUrl: e.NATS_URL,
    // PORT=0 (the kernel picks one, as tests do) says nothing about which process this is: its pid does.
    nodeId: e.NODE_ID ?? `${hostname()}:${e.PORT === 0 ? `pid${process.pid}` : e.PORT}`,
  };
}
