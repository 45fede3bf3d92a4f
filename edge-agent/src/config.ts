import { chmodSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { DEFAULT_CAMERA_SETTINGS, cameraSettingsSchema, type CameraSettings } from '@picam/protocol';
import { AgentError } from './errors.ts';
import { normalizeRelayUrl } from './relay-url.ts';
import type { CameraExtras } from './camera-args.ts';
import { AUDIO_SAMPLE_RATES, DEFAULT_AUDIO_CONFIG, type AudioConfig } from './audio-command.ts';

/**
 * The agent's configuration, in one place: where the config file lives, how it is read and
 * written (it holds the device credential, hence 0600), and how file, environment and flags
 * combine for `run`. Everything is validated here, once, before anything starts.
 */

/** What `enroll` writes and `run` reads. */
export interface AgentConfigFile {
  relay: string;
  cameraId: string;
  credential: string;
  settings: CameraSettings;
  /** the microphone; absent = off. Kept as written when the agent saves new camera settings. */
  audio?: AudioConfig;
  /** what is kept for backfill; absent = the defaults. Kept as written, like audio. */
  backfill?: Partial<BackfillConfig>;
}

/**
 * Frames kept for backfill (backfill-ring.ts): the most recent ones, so that after a dropped link
 * the relay can fill the hole in its recording.
 */
interface BackfillConfig {
  /** MiB of RAM for the ring; 0 turns backfill off */
  mb: number;
  /** where GOPs the ring evicts are kept (a USB disk); null: RAM only, never the SD card by default */
  dir: string | null;
  /** MiB the directory may hold */
  dirMb: number;
}

const DEFAULT_BACKFILL_CONFIG: BackfillConfig = { mb: 64, dir: null, dirMb: 1024 };
/** A Pi 4 has 1-8 GiB; more than this would be a typo, not a plan. */
const MAX_BACKFILL_MB = 4096;
/** ... and a USB disk a few TB; a day of 8 Mbit/s video is ~86 GB. */
const MAX_BACKFILL_DIR_MB = 1024 * 1024;

/** root runs as a system service (/etc), anyone else keeps it in their home. */
export function defaultConfigPath(uid: number | undefined = process.getuid?.(), home: string = homedir()): string {
  return uid === 0 ? '/etc/picam-agent/config.json' : join(home, '.config', 'picam-agent', 'config.json');
}

/** Settings from a file or the relay: unknown or invalid fields fall back to the defaults, field by field. */
export function mergeSettings(base: CameraSettings, input: unknown): CameraSettings {
  if (typeof input !== 'object' || input === null) return { ...base };
  const merged: Record<string, unknown> = { ...base };
  const shape = cameraSettingsSchema.shape;
  for (const [key, value] of Object.entries(input)) {
    if (!(key in shape)) continue;
    const field = shape[key as keyof CameraSettings];
    if (field.safeParse(value).success) merged[key] = value;
  }
  return cameraSettingsSchema.parse(merged);
}

export function parseConfigFile(text: string, path: string): AgentConfigFile {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new AgentError('ERR_CONFIG', `config ${path} is not valid JSON`);
  }
  if (typeof value !== 'object' || value === null) throw new AgentError('ERR_CONFIG', `config ${path} is not a JSON object`);
  const v = value as Record<string, unknown>;
  for (const key of ['relay', 'cameraId', 'credential'] as const) {
    if (typeof v[key] !== 'string' || v[key] === '') {
      throw new AgentError('ERR_CONFIG', `config ${path}: "${key}" is missing; run \`picam-agent enroll\` again`);
    }
  }
  return {
    relay: normalizeRelayUrl(v.relay as string),
    cameraId: v.cameraId as string,
    credential: v.credential as string,
    settings: mergeSettings(DEFAULT_CAMERA_SETTINGS, v.settings),
    ...(v.audio === undefined ? {} : { audio: parseAudioConfig(v.audio, `config ${path}: audio`) }),
    ...(v.backfill === undefined ? {} : { backfill: parseBackfillConfig(v.backfill, `config ${path}: backfill`) }),
  };
}

/** The `backfill` object of the config file: `{ "mb": 64, "dir": "/mnt/usb/picam", "dirMb": 1024 }`, every field optional. */
function parseBackfillConfig(input: unknown, where: string): Partial<BackfillConfig> {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) throw new AgentError('ERR_CONFIG', `${where} must be an object`);
  const v = input as Record<string, unknown>;
  const backfill: Partial<BackfillConfig> = {};
  if (v.mb !== undefined) backfill.mb = validateMb(v.mb, `${where}.mb`, MAX_BACKFILL_MB, ' (0 turns backfill off)');
  if (v.dirMb !== undefined) backfill.dirMb = validateMb(v.dirMb, `${where}.dirMb`, MAX_BACKFILL_DIR_MB);
  if (v.dir !== undefined && v.dir !== null) backfill.dir = validateDir(v.dir, `${where}.dir`);
  return backfill;
}

function validateMb(value: unknown, name: string, max: number, note = ''): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > max) {
    throw new AgentError('ERR_CONFIG', `${name} must be a whole number of MiB, 0..${max}${note}, got ${String(value)}`);
  }
  return value;
}

function validateDir(value: unknown, name: string): string {
  if (typeof value !== 'string' || !value.startsWith('/')) throw new AgentError('ERR_CONFIG', `${name} must be an absolute path, got ${JSON.stringify(value)}`);
  return value;
}

/** The `audio` object of the config file: every field optional, each checked. */
function parseAudioConfig(input: unknown, where: string): AudioConfig {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) throw new AgentError('ERR_CONFIG', `${where} must be an object`);
  const v = input as Record<string, unknown>;
  const audio: AudioConfig = { ...DEFAULT_AUDIO_CONFIG };
  if (v.enabled !== undefined) {
    if (typeof v.enabled !== 'boolean') throw new AgentError('ERR_CONFIG', `${where}.enabled must be true or false`);
    audio.enabled = v.enabled;
  }
  for (const key of ['device', 'command'] as const) {
    if (v[key] === undefined) continue;
    if (typeof v[key] !== 'string' || v[key] === '') throw new AgentError('ERR_CONFIG', `${where}.${key} must be a non-empty string`);
    audio[key] = v[key];
  }
  for (const key of ['bitrate', 'sampleRate', 'channels'] as const) {
    if (v[key] === undefined) continue;
    if (typeof v[key] !== 'number') throw new AgentError('ERR_CONFIG', `${where}.${key} must be a number`);
    audio[key] = v[key];
  }
  return validateAudio(audio, (key) => `${where}.${key}`);
}

function validateAudio(audio: AudioConfig, name: (key: string) => string): AudioConfig {
  if (!Number.isInteger(audio.bitrate) || audio.bitrate < 8_000 || audio.bitrate > 512_000) {
    throw new AgentError('ERR_CONFIG', `${name('bitrate')} must be 8000..512000 bits per second, got ${audio.bitrate}`);
  }
  if (!AUDIO_SAMPLE_RATES.includes(audio.sampleRate)) {
    throw new AgentError('ERR_CONFIG', `${name('sampleRate')} must be one of ${AUDIO_SAMPLE_RATES.join(', ')}, got ${audio.sampleRate}`);
  }
  if (!Number.isInteger(audio.channels) || audio.channels < 1 || audio.channels > 8) {
    throw new AgentError('ERR_CONFIG', `${name('channels')} must be 1..8, got ${audio.channels}`);
  }
  return audio;
}

/** Null when the file does not exist (env-only setups are allowed); throws on anything else. */
export function readConfigFile(path: string): AgentConfigFile | null {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new AgentError('ERR_CONFIG', `cannot read config ${path}: ${(error as Error).message}`);
  }
  return parseConfigFile(text, path);
}

/** Creates the config's directory (0700) if needed; used before enrolling so a token is never spent in vain. */
export function prepareConfigDir(path: string): void {
  try {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  } catch (error) {
    throw new AgentError('ERR_CONFIG', `cannot create ${dirname(path)}: ${(error as Error).message}`);
  }
}

/**
 * Atomic (write a temporary file, then rename) so a power cut on a Pi never leaves a half-written
 * config, and 0600 from the first byte because it holds the device credential.
 */
export function writeConfigFile(path: string, config: AgentConfigFile): void {
  prepareConfigDir(path);
  const temporary = `${path}.${process.pid}.tmp`;
  try {
    writeFileSync(temporary, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
    chmodSync(temporary, 0o600); // in case the file existed with looser permissions
    renameSync(temporary, path);
  } catch (error) {
    throw new AgentError('ERR_CONFIG', `cannot write config ${path}: ${(error as Error).message}`);
  }
}

// ---- tuning -------------------------------------------------------------------------------------

/**
 * Delays and limits. The defaults suit a Pi on a home uplink; tests shorten them through the
 * hidden `--tuning key=value,...` flag (or PICAM_AGENT_TUNING) so recovery stays real but fast.
 */
export interface Tuning {
  reconnectMinMs: number;
  reconnectMaxMs: number;
  /** a connection open this long resets the reconnect backoff */
  healthyAfterMs: number;
  /** close 4009: another agent holds this camera's credential */
  replacedDelayMs: number;
  /** close 4001 / HTTP 401: credential revoked, only a re-enroll helps */
  revokedDelayMs: number;
  cameraRestartMinMs: number;
  cameraRestartMaxMs: number;
  /** no frame for this long: the camera is stalled and gets restarted */
  stallTimeoutMs: number;
  /** no viewer for this long stops an on-demand camera */
  demandGraceMs: number;
  statsIntervalMs: number;
  /** pipe silence that completes an access unit when completing on drain is off or untrusted */
  flushDelayMs: number;
  /** 1: complete an access unit as soon as the camera pipe is drained (FrameReader); 0: only after flushDelayMs */
  drainFlush: number;
  /** ws.bufferedAmount above this drops video to the next keyframe */
  queueLimitBytes: number;
  /** ping interval; two missed pongs end the connection */
  pingIntervalMs: number;
  /** backfill goes at most this many times the live byte rate */
  backfillRateMultiple: number;
  /** ... and at least this many bytes per second */
  backfillMinBytesPerSecond: number;
  /** backfill waits while ws.bufferedAmount is above this, so live frames never queue behind much of it */
  backfillQueueBytes: number;
  /** ... and while a ping's round trip is this many ms over the lowest seen in the run (queueing further down the path) */
  backfillDelayTargetMs: number;
}

export const DEFAULT_TUNING: Tuning = {
  reconnectMinMs: 500,
  reconnectMaxMs: 30_000,
  healthyAfterMs: 60_000,
  replacedDelayMs: 60_000,
  revokedDelayMs: 5 * 60_000,
  cameraRestartMinMs: 500,
  cameraRestartMaxMs: 30_000,
  stallTimeoutMs: 3_000,
  demandGraceMs: 10_000,
  statsIntervalMs: 2_000,
  flushDelayMs: 2,
  drainFlush: 1,
  queueLimitBytes: 2 * 1024 * 1024,
  pingIntervalMs: 20_000,
  backfillRateMultiple: 2,
  backfillMinBytesPerSecond: 64 * 1024,
  backfillQueueBytes: 64 * 1024,
  backfillDelayTargetMs: 60,
};

export function parseTuning(text: string | undefined, base: Tuning = DEFAULT_TUNING): Tuning {
  const tuning = { ...base };
  if (text === undefined || text.trim() === '') return tuning;
  for (const part of text.split(',')) {
    const [key = '', raw = ''] = part.split('=').map((s) => s.trim());
    if (!(key in tuning)) {
      throw new AgentError('ERR_CONFIG', `unknown tuning key "${key}" (known: ${Object.keys(base).join(', ')})`);
    }
    const value = Number(raw);
    if (raw === '' || !Number.isFinite(value) || value < 0) {
      throw new AgentError('ERR_CONFIG', `tuning ${key} needs a non-negative number, got "${raw}"`);
    }
    tuning[key as keyof Tuning] = value;
  }
  if (tuning.reconnectMinMs <= 0 || tuning.reconnectMaxMs < tuning.reconnectMinMs) {
    throw new AgentError('ERR_CONFIG', 'tuning needs 0 < reconnectMinMs <= reconnectMaxMs');
  }
  if (tuning.cameraRestartMinMs <= 0 || tuning.cameraRestartMaxMs < tuning.cameraRestartMinMs) {
    throw new AgentError('ERR_CONFIG', 'tuning needs 0 < cameraRestartMinMs <= cameraRestartMaxMs');
  }
  return tuning;
}

// ---- run ----------------------------------------------------------------------------------------

/** Flags of `picam-agent run` as commander parsed them; undefined = not given. */
export interface RunFlags extends Partial<Omit<CameraSettings, 'onDemand'>>, CameraExtras {
  config?: string | undefined;
  relay?: string | undefined;
  onDemand?: boolean | undefined;
  cameraCommand?: string | undefined;
  cameraModel?: string | undefined;
  logLevel?: string | undefined;
  tuning?: string | undefined;
  /** --audio / --no-audio */
  audio?: boolean | undefined;
  audioDevice?: string | undefined;
  audioCommand?: string | undefined;
  audioBitrate?: number | undefined;
  audioRate?: number | undefined;
  audioChannels?: number | undefined;
  backfillMb?: number | undefined;
  backfillDir?: string | undefined;
  backfillDirMb?: number | undefined;
}

export interface RunConfig {
  configPath: string;
  /** false when relay and credential came from the environment alone: nothing to persist settings to */
  configFileExists: boolean;
  relay: string;
  credential: string;
  cameraId: string | null;
  /** the settings the relay last sent (persisted in the file) */
  settings: CameraSettings;
  /**
   * Settings given as flags: they win over the relay's, so someone debugging on the device is not
   * overruled by the next `settings` message. Everything else follows the relay.
   */
  pinned: Partial<CameraSettings>;
  extras: CameraExtras;
  cameraCommand: string | undefined;
  boardModel: string | undefined;
  logLevel: string;
  tuning: Tuning;
  /** the config file's `audio`, with the flags laid over it */
  audio: AudioConfig;
  /** the config file's `backfill`, with the flags laid over it */
  backfill: BackfillConfig;
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];
const SETTING_FLAGS = ['width', 'height', 'framerate', 'bitrate', 'intra', 'profile', 'rotation', 'hflip', 'vflip', 'onDemand'] as const;

export function resolveRunConfig(flags: RunFlags, env: NodeJS.ProcessEnv, file: AgentConfigFile | null, configPath: string): RunConfig {
  const relayInput = flags.relay ?? env.PICAM_RELAY ?? file?.relay;
  const credential = env.PICAM_DEVICE_TOKEN ?? file?.credential;
  if (relayInput === undefined || credential === undefined || credential === '') {
    throw new AgentError(
      'ERR_CONFIG_MISSING',
      `no relay or device credential: enroll first (picam-agent enroll --relay URL --token -), or set PICAM_RELAY and PICAM_DEVICE_TOKEN (looked for ${configPath})`,
    );
  }
  const pinned: Record<string, unknown> = {};
  for (const key of SETTING_FLAGS) {
    const value = flags[key];
    if (value === undefined) continue;
    const check = cameraSettingsSchema.shape[key].safeParse(value);
    if (!check.success) {
      throw new AgentError('ERR_CONFIG', `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}: ${check.error.issues[0]?.message ?? 'invalid'}`);
    }
    pinned[key] = value;
  }
  const logLevel = flags.logLevel ?? env.LOG_LEVEL ?? 'info';
  if (!LOG_LEVELS.includes(logLevel)) throw new AgentError('ERR_CONFIG', `--log-level must be one of ${LOG_LEVELS.join(', ')}`);
  return {
    configPath,
    configFileExists: file !== null,
    relay: normalizeRelayUrl(relayInput),
    credential,
    cameraId: file?.cameraId ?? null,
    settings: file?.settings ?? { ...DEFAULT_CAMERA_SETTINGS },
    pinned: pinned as Partial<CameraSettings>,
    extras: { level: flags.level, denoise: flags.denoise },
    cameraCommand: flags.cameraCommand ?? env.PICAM_CAMERA_COMMAND,
    boardModel: flags.cameraModel,
    logLevel,
    tuning: parseTuning(flags.tuning ?? env.PICAM_AGENT_TUNING),
    audio: resolveAudioConfig(flags, env, file?.audio),
    backfill: {
      ...DEFAULT_BACKFILL_CONFIG,
      ...file?.backfill,
      ...(flags.backfillMb === undefined ? {} : { mb: validateMb(flags.backfillMb, '--backfill-mb', MAX_BACKFILL_MB, ' (0 turns backfill off)') }),
      ...(flags.backfillDir === undefined ? {} : { dir: validateDir(flags.backfillDir, '--backfill-dir') }),
      ...(flags.backfillDirMb === undefined ? {} : { dirMb: validateMb(flags.backfillDirMb, '--backfill-dir-mb', MAX_BACKFILL_DIR_MB) }),
    },
  };
}

/** File, then environment (PICAM_AUDIO_COMMAND), then flags. */
export function resolveAudioConfig(flags: RunFlags, env: NodeJS.ProcessEnv, file: AudioConfig | undefined): AudioConfig {
  const audio: AudioConfig = { ...(file ?? DEFAULT_AUDIO_CONFIG) };
  if (env.PICAM_AUDIO_COMMAND !== undefined && env.PICAM_AUDIO_COMMAND.trim() !== '') audio.command = env.PICAM_AUDIO_COMMAND;
  if (flags.audio !== undefined) audio.enabled = flags.audio;
  if (flags.audioDevice !== undefined) audio.device = flags.audioDevice;
  if (flags.audioCommand !== undefined) audio.command = flags.audioCommand;
  if (flags.audioBitrate !== undefined) audio.bitrate = flags.audioBitrate;
  if (flags.audioRate !== undefined) audio.sampleRate = flags.audioRate;
  if (flags.audioChannels !== undefined) audio.channels = flags.audioChannels;
  if (audio.command !== undefined && audio.command.trim() === '') throw new AgentError('ERR_CONFIG', '--audio-command is empty');
  if (audio.device.trim() === '') throw new AgentError('ERR_CONFIG', '--audio-device is empty');
  return validateAudio(audio, (key) => `--audio-${{ bitrate: 'bitrate', sampleRate: 'rate', channels: 'channels' }[key] ?? key}`);
}

/** The settings the camera actually runs with. */
export function effectiveSettings(settings: CameraSettings, pinned: Partial<CameraSettings>): CameraSettings {
  return { ...settings, ...pinned };
}
