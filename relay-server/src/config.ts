import { resolve } from 'node:path';
import { z } from 'zod';
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
});

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
  };
}
