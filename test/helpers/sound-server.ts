import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A PulseAudio daemon with one null sink, for a browser that plays sound through a real sound
 * server (Firefox: with no server its AudioContext stays 'suspended' forever, so "sound on" could
 * never be tested on a machine without a sound card). Chromium headless has its own fake output
 * and needs none. The daemon lives in its own runtime directory, so it never touches a desktop's.
 */

export const PULSEAUDIO_PATH = process.env.PICAM_PULSEAUDIO ?? '/usr/bin/pulseaudio';

export interface SoundServer {
  /** Environment for the browser process: where the daemon's socket is. */
  env: Record<string, string>;
  stop(): void;
}

/** Starts the daemon; null when pulseaudio is not installed (the caller says so loudly). */
export function startSoundServer(): SoundServer | null {
  if (!existsSync(PULSEAUDIO_PATH)) return null;
  const runtimeDir = mkdtempSync(join(tmpdir(), 'picam-pulse-'));
  const env = { ...process.env, XDG_RUNTIME_DIR: runtimeDir, HOME: runtimeDir };
  const started = spawnSync(
    PULSEAUDIO_PATH,
    ['--daemonize=yes', '--exit-idle-time=-1', '-n', '--load=module-native-protocol-unix', '--load=module-null-sink sink_name=picam_null', '--log-target=stderr'],
    { env, encoding: 'utf8', timeout: 15_000 },
  );
  if (started.status !== 0) {
    rmSync(runtimeDir, { recursive: true, force: true });
    throw new Error(`pulseaudio did not start (exit ${started.status}): ${started.stderr.trim().split('\n').slice(-3).join(' | ')}`);
  }
  return {
    env: { XDG_RUNTIME_DIR: runtimeDir },
    stop() {
      spawnSync(PULSEAUDIO_PATH, ['--kill'], { env, timeout: 10_000 });
      rmSync(runtimeDir, { recursive: true, force: true });
    },
  };
}
