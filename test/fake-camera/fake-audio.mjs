// A stand-in for an audio capture command (e.g. `ffmpeg -f alsa -i hw:1 -c:a aac -f adts -`):
// streams a committed ADTS AAC clip to stdout in real time, one ADTS frame per write, looping.
// Its arguments are ignored, so any capture command line can be pointed at it.
// Knobs: FAKE_AUDIO_CLIP, FAKE_AUDIO_DIE_AFTER, FAKE_AUDIO_WRITE_LOG (see README.md).

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { splitAdtsFrames } from './lib/adts.mjs';
import { epochMicros, runPaced } from './lib/realtime.mjs';
import { envCount, exitWhenOrphaned, logLine, openWriteLog } from './lib/proc.mjs';
import { openStdout } from './lib/sinks.mjs';

const DEFAULT_CLIP = fileURLToPath(new URL('../fixtures/clips/tone-48k-mono.aac', import.meta.url));

export async function main() {
  const frames = splitAdtsFrames(readFileSync(process.env.FAKE_AUDIO_CLIP || DEFAULT_CLIP));
  const dieAfter = envCount('FAKE_AUDIO_DIE_AFTER');
  const writeLog = openWriteLog(process.env.FAKE_AUDIO_WRITE_LOG);
  exitWhenOrphaned();

  // ffmpeg flushes every packet to a pipe, hence flush: true. When the reader leaves, its
  // write fails and ffmpeg ends with an error; so does the fake.
  const sink = openStdout({ flush: true, allowTty: process.env.FAKE_AUDIO_FORCE_TTY === '1' }, () => {
    logLine('av_interleaved_write_frame(): Broken pipe');
    process.exit(255);
  });
  if (!sink) {
    logLine('fake-audio: refusing to write AAC to a terminal: redirect stdout, or set FAKE_AUDIO_FORCE_TTY=1');
    process.exit(1);
  }

  // Each ADTS frame lasts its sample count at its sample rate (1024 samples at 48 kHz = 21.33 ms).
  const durationNs = (n) => {
    const f = frames[n % frames.length];
    return BigInt(Math.round((f.samples * 1e9) / f.sampleRate));
  };
  await runPaced(async (n) => {
    if (dieAfter !== undefined && n >= dieAfter) {
      logLine('[in#0/alsa @ 0x55f1c3a2e4c0] Error during demuxing: Input/output error');
      process.exit(1);
    }
    const frame = frames[n % frames.length];
    const stamp = epochMicros();
    await sink.write(frame.data);
    writeLog.record(frame.index, Math.floor(n / frames.length), stamp);
    return true;
  }, durationNs);
}
