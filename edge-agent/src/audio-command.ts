import type { SupervisedCommand } from './supervised-process.ts';

/** `audio` in the config file, and the resolved audio settings of `run`. */
export interface AudioConfig {
  enabled: boolean;
  /** ALSA device: "default", "hw:1,0", "plughw:1,0", ... */
  device: string;
  /** a whole command line run through `sh -c` instead of the built-in ffmpeg one; must write ADTS AAC-LC to stdout */
  command?: string | undefined;
  /** AAC bitrate, bits per second */
  bitrate: number;
  sampleRate: number;
  channels: number;
}

export const DEFAULT_AUDIO_CONFIG: AudioConfig = {
  enabled: false,
  device: 'default',
  bitrate: 64_000,
  sampleRate: 48_000,
  channels: 1,
};

/** The rates ADTS can signal without an escape code (and ffmpeg's aac encoder supports). */
export const AUDIO_SAMPLE_RATES = [96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350];

/**
 * ffmpeg reading ALSA and writing ADTS to stdout, tuned for latency:
 * - `-fflags nobuffer -flags low_delay`: no probing buffer on the input, low-delay coding;
 * - `-f alsa -ac N -ar R -i DEVICE`: capture at the rate and channel count asked for;
 * - `-c:a aac -profile:a aac_low -b:a B`: AAC-LC, the only profile browsers all decode. Its frames
 *   are already the smallest AAC-LC allows (1024 samples, 21.3 ms at 48 kHz, `-frame_size 1024`);
 *   `-aac_coder fast` keeps the encoder light on a Pi and quick per frame;
 * - `-f adts -flush_packets 1 -`: every frame written to the pipe as soon as it is encoded,
 *   instead of collecting a 32 KiB buffer (seconds of 64 kbit/s audio).
 */
export function defaultAudioArgs(config: Pick<AudioConfig, 'device' | 'bitrate' | 'sampleRate' | 'channels'>): string[] {
  return [
    '-hide_banner',
    '-loglevel', 'error',
    '-nostdin',
    '-fflags', 'nobuffer',
    '-flags', 'low_delay',
    '-f', 'alsa',
    '-ac', String(config.channels),
    '-ar', String(config.sampleRate),
    '-i', config.device,
    '-c:a', 'aac',
    '-profile:a', 'aac_low',
    '-aac_coder', 'fast',
    '-frame_size', '1024',
    '-b:a', String(config.bitrate),
    '-ac', String(config.channels),
    '-ar', String(config.sampleRate),
    '-f', 'adts',
    '-flush_packets', '1',
    '-',
  ];
}

/**
 * What the audio supervisor runs: `--audio-command` (or PICAM_AUDIO_COMMAND) through `sh -c`, so a
 * pipeline (`arecord ... | encoder`) or a test source works; else ffmpeg found on PATH.
 */
export function resolveAudioCommand(config: AudioConfig, path: string, exists: (file: string) => boolean): SupervisedCommand {
  if (config.command !== undefined && config.command.trim() !== '') return { command: '/bin/sh', args: ['-c', config.command] };
  const ffmpeg = findOnPath('ffmpeg', path, exists);
  if (ffmpeg === null) return { error: 'ffmpeg not found on PATH: install it (sudo apt install ffmpeg) or pass --audio-command' };
  return { command: ffmpeg, args: defaultAudioArgs(config) };
}

function findOnPath(name: string, path: string, exists: (file: string) => boolean): string | null {
  for (const dir of path.split(':')) {
    if (dir === '') continue;
    const file = `${dir.replace(/\/+$/, '')}/${name}`;
    if (exists(file)) return file;
  }
  return null;
}
