import { accessSync, constants } from 'node:fs';
import { dirname } from 'node:path';
import { DEFAULT_CAMERA_SETTINGS } from '@picam/protocol';
import { defaultConfigPath, mergeSettings, prepareConfigDir, writeConfigFile } from '../config.ts';
import { AgentError } from '../errors.ts';
import { readApiError, relayFetch } from '../relay-http.ts';
import { normalizeRelayUrl, relayEndpoint } from '../relay-url.ts';
import { readEnrollmentToken, type TokenFlags } from './enroll-token.ts';

export interface EnrollFlags extends TokenFlags {
  relay: string;
  config?: string | undefined;
}

/**
 * `picam-agent enroll`: trades a one-time enrollment token for this device's credential and
 * stores it. The token is spent by the relay on first use, so everything that could fail
 * locally (a bad URL, an unwritable config directory) is checked before it is sent.
 * The credential is written to the 0600 file and never printed.
 */
export async function enroll(flags: EnrollFlags, print: (line: string) => void): Promise<void> {
  const relay = normalizeRelayUrl(flags.relay);
  const token = await readEnrollmentToken(flags);
  const path = flags.config ?? defaultConfigPath();
  prepareConfigDir(path);
  try {
    accessSync(dirname(path), constants.W_OK);
  } catch {
    throw new AgentError('ERR_CONFIG', `cannot write to ${dirname(path)}: run as a user who can, or pass --config PATH`);
  }

  const response = await relayFetch(relayEndpoint(relay, 'api/enroll'), {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json' },
    body: JSON.stringify({ token }),
  });
  if (!response.ok) {
    const error = await readApiError(response);
    if (response.status === 401 || error.code === 'token_invalid') {
      throw new AgentError('ERR_TOKEN_INVALID', 'enrollment token unknown or already used: ask the relay admin for a new one');
    }
    if (response.status === 410 || error.code === 'token_expired') {
      throw new AgentError('ERR_TOKEN_EXPIRED', 'enrollment token expired: ask the relay admin for a new one');
    }
    const detail = error.message ?? response.statusText;
    throw new AgentError('ERR_RELAY_RESPONSE', `the relay refused the enrollment (HTTP ${response.status}${detail ? `: ${detail}` : ''})`);
  }
  let body: { cameraId?: unknown; name?: unknown; credential?: unknown; settings?: unknown };
  try {
    body = (await response.json()) as typeof body;
  } catch {
    throw new AgentError('ERR_RELAY_RESPONSE', `the relay answered with something that is not JSON: is ${relay} really a picam relay?`);
  }
  if (typeof body.cameraId !== 'string' || typeof body.credential !== 'string' || body.credential === '') {
    throw new AgentError('ERR_RELAY_RESPONSE', 'the relay answered without a camera id or credential');
  }
  writeConfigFile(path, {
    relay,
    cameraId: body.cameraId,
    credential: body.credential,
    settings: mergeSettings(DEFAULT_CAMERA_SETTINGS, body.settings),
  });
  const name = typeof body.name === 'string' ? body.name : body.cameraId;
  print(`Enrolled as camera "${name}" (${body.cameraId}) on ${relay}.`);
  print(`Credential saved to ${path} (mode 0600). Start streaming with: picam-agent run${flags.config ? ` --config ${path}` : ''}`);
}
