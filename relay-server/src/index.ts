/** The relay as a library: start it in-process (tests, embedders) and the stream hub seam. */
export { startRelay, type RunningRelay, type StartOptions } from './server.ts';
export { loadConfig, ConfigError, type RelayConfig } from './config.ts';
export { createMetrics, type RelayMetrics } from './metrics.ts';
export * from './streams/index.ts';
