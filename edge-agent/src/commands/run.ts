import { Agent } from '../agent.ts';
import { defaultConfigPath, readConfigFile, resolveRunConfig, type RunFlags } from '../config.ts';
import { createLogger } from '../logger.ts';

/** A stuck shutdown (camera ignoring SIGKILL in D state, say) must not keep systemd waiting forever. */
const SHUTDOWN_DEADLINE_MS = 5_000;

/** `picam-agent run`: streams until SIGTERM/SIGINT, then stops the camera, closes 1001, exits 0. */
export function run(flags: RunFlags, env: NodeJS.ProcessEnv = process.env): void {
  const configPath = flags.config ?? env.PICAM_AGENT_CONFIG ?? defaultConfigPath();
  const config = resolveRunConfig(flags, env, readConfigFile(configPath), configPath);
  const log = createLogger(config.logLevel);
  const agent = new Agent(config, log, env);

  let stopping = false;
  const shutdown = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'stopping');
    setTimeout(() => {
      log.warn('shutdown took too long, exiting anyway');
      process.exit(0);
    }, SHUTDOWN_DEADLINE_MS).unref();
    agent.stop().then(
      () => {
        log.info('stopped');
        process.exit(0);
      },
      (error: unknown) => {
        log.error({ err: (error as Error).message }, 'error while stopping');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
  agent.start();
}
