import type { RelayConfig } from '../config.ts';
import type { Db } from '../db/client.ts';
import type { Logger } from '../logger.ts';
import type { LiveCameras } from '../services.ts';
import type { KeyStore } from './jwt-keys.ts';
import type { PasswordHasher } from './passwords.ts';

/** What every auth operation needs; built once by accounts.ts. `live` is a getter: the streaming side is built later. */
export interface AuthDeps {
  db: Db;
  config: RelayConfig;
  log: Logger;
  live: () => LiveCameras;
  now: () => number;
  keys: KeyStore;
  hasher: PasswordHasher;
}
