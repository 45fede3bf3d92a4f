import type { RelayConfig } from '../config.ts';
import type { Db, RegistryDb } from '../db/client.ts';
import type { Logger } from '../logger.ts';
import type { LiveCameras, RecordingControl, SharedLoginLimits } from '../services.ts';
import type { KeyStore } from './jwt-keys.ts';
import type { PasswordHasher } from './passwords.ts';

/** What every auth operation needs; built once by accounts.ts. `live` is a getter: the streaming side is built later. */
export interface AuthDeps {
  /** the registry (SQLite or Postgres) */
  db: RegistryDb;
  /** this node's recording index */
  index: Db;
  config: RelayConfig;
  log: Logger;
  live: () => LiveCameras;
  /** a getter, like `live`: the recorder is started after the accounts side */
  recorder: () => RecordingControl;
  now: () => number;
  keys: KeyStore;
  hasher: PasswordHasher;
  /** cluster mode: the login limits' counts shared with the other nodes */
  loginLimits?: SharedLoginLimits;
}
