import { Command } from 'commander';
import { ConfigError, loadConfig, type RelayConfig } from './config.ts';
import { tuneGarbageCollector } from './gc-tuning.ts';
import { startRelay } from './server.ts';
import { runKeysCommand, runUsersCommand } from './users-cli.ts';

/**
 * `picam-relay [serve]`, `picam-relay users ...`, `picam-relay keys ...`. Flags are mapped onto the
 * environment names and the one config parser (config.ts) reads them, so a flag and its variable
 * can never disagree about validation. The admin password, when generated, is printed here once, to
 * stdout as plain text, never into the JSON log.
 */

interface ConfigFlags {
  port?: string;
  host?: string;
  dataDir?: string;
  publicUrl?: string;
  logLevel?: string;
}

const FLAG_ENV: Record<keyof ConfigFlags, string> = {
  port: 'PORT',
  host: 'HOST',
  dataDir: 'DATA_DIR',
  publicUrl: 'PUBLIC_URL',
  logLevel: 'LOG_LEVEL',
};

function configFrom(flags: ConfigFlags): RelayConfig {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const [flag, name] of Object.entries(FLAG_ENV) as [keyof ConfigFlags, string][]) {
    const value = flags[flag];
    if (value !== undefined) env[name] = value;
  }
  return loadConfig(env);
}

async function serve(flags: ConfigFlags): Promise<void> {
  const config = configFrom(flags);
  tuneGarbageCollector();
  let relay: Awaited<ReturnType<typeof startRelay>>;
  try {
    relay = await startRelay(config);
  } catch (err) {
    // A start-up failure (disk full, port taken, unreadable DATA_DIR) is the operator's to fix:
    // one line naming it, not a stack trace that a supervisor repeats in a restart loop.
    process.stderr.write(`picam-relay: cannot start: ${describeStartError(err, config)}\n`);
    process.exit(1);
  }
  const out = (line: string) => process.stdout.write(`${line}\n`);
  out(`picam-relay listening on ${relay.url}`);
  if (relay.metricsUrl) out(`picam-relay metrics on ${relay.metricsUrl}/metrics`);
  if (relay.admin.generatedPassword !== null) {
    out(`admin password: ${relay.admin.generatedPassword}`);
    out('(shown once: store it now; change it with `picam-relay users passwd admin`)');
  }

  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) {
      // A second Ctrl-C: the operator does not want to wait for close handshakes.
      process.exit(1);
    }
    stopping = true;
    process.stderr.write(`picam-relay: ${signal}, shutting down\n`);
    relay.close().then(
      () => process.exit(0),
      (err: unknown) => {
        process.stderr.write(`picam-relay: shutdown failed: ${String(err)}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

function describeStartError(err: unknown, config: RelayConfig): string {
  const code = (err as { code?: unknown } | null)?.code;
  const message = err instanceof Error ? err.message : String(err);
  if (code === 'EADDRINUSE') {
    // The public listener or the metrics one (METRICS_PORT): the error says which address.
    const { port, address } = err as { port?: number; address?: string };
    const metrics = config.metricsListen !== undefined && port === config.metricsListen.port && port !== config.port;
    return `port ${port ?? config.port} on ${address ?? config.host} is already in use (set ${metrics ? 'METRICS_PORT' : 'PORT'})`;
  }
  if (code === 'SQLITE_FULL' || code === 'ENOSPC') return `no space left for the database in ${config.dataDir} (${message})`;
  if (code === 'EACCES' || code === 'SQLITE_CANTOPEN' || code === 'SQLITE_READONLY') return `cannot write ${config.dataDir} (${message})`;
  return typeof code === 'string' ? `${message} (${code})` : message;
}

const configOptions = (cmd: Command) =>
  cmd
    .option('--port <port>', 'TCP port (env PORT, default 8080; 0 picks a free one)')
    .option('--host <host>', 'address to bind (env HOST, default 0.0.0.0)')
    .option('--data-dir <dir>', 'database and signing keys (env DATA_DIR, default ./data)')
    .option('--public-url <url>', 'where browsers reach the relay (env PUBLIC_URL)')
    .option('--log-level <level>', 'fatal|error|warn|info|debug|trace|silent (env LOG_LEVEL)');

/** users/keys take everything after their name verbatim: their own parsers (users-cli.ts) read it. */
const passThrough = (cmd: Command) =>
  cmd.option('--data-dir <dir>', 'database and signing keys (env DATA_DIR)').helpOption(false).allowUnknownOption().passThroughOptions().argument('[args...]');

export async function main(argv: string[]): Promise<void> {
  const program = new Command('picam-relay')
    .description('Relay for Raspberry Pi cameras: agents push H.264, browsers watch live.')
    .enablePositionalOptions();

  configOptions(program.command('serve', { isDefault: true }).description('run the relay (the default)')).action(serve);

  passThrough(program.command('users').description('manage accounts: users add|list|passwd|remove ...')).action(
    async (args: string[], flags: ConfigFlags) => {
      process.exitCode = await runUsersCommand(args, configFrom(flags));
    },
  );
  passThrough(program.command('keys').description('manage JWT signing keys: keys rotate|list|remove <kid>')).action(
    async (args: string[], flags: ConfigFlags) => {
      process.exitCode = await runKeysCommand(args, configFrom(flags));
    },
  );

  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`picam-relay: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
}

await main(process.argv);
