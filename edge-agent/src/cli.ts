import { Command, Option } from 'commander';
import { bitrate, decimal, integer, rotation } from './cli-options.ts';
import { check, formatReport } from './commands/check.ts';
import { enroll } from './commands/enroll.ts';
import { run } from './commands/run.ts';
import type { RunFlags } from './config.ts';
import { isAgentError } from './errors.ts';
import { AGENT_VERSION } from './version.ts';

/**
 * picam-agent: enroll | run | check. Parsing only; each command lives in commands/.
 * Failures a person can fix print one line and exit 1; anything else is a bug and keeps its stack.
 */
function fail(error: unknown): never {
  if (isAgentError(error)) {
    process.stderr.write(`picam-agent: ${error.message}\n`);
    process.exit(1);
  }
  throw error;
}

const program = new Command('picam-agent')
  .description('Streams a Raspberry Pi camera to a picam relay over an outbound WebSocket.')
  .version(AGENT_VERSION)
  .showHelpAfterError('(add --help for usage)');

program
  .command('enroll')
  .description('trade a one-time enrollment token for this device\'s credential and save it (mode 0600)')
  .requiredOption('--relay <url>', 'the relay\'s URL, e.g. https://relay.example.com')
  .option('--token <token>', 'the enrollment token shown when the camera was added: `-` reads it from standard input (preferred; a token given here is visible to other local users and kept in shell history)')
  .option('--token-file <path>', 'read the enrollment token from this file (mode 0600)')
  .option('--config <path>', 'where to save the config (default: /etc/picam-agent/config.json as root, else ~/.config/picam-agent/config.json)')
  .action(async (opts: { relay: string; token?: string; tokenFile?: string; config?: string }) => {
    await enroll(opts, (line) => process.stdout.write(`${line}\n`)).catch(fail);
  });

program
  .command('run')
  .description('capture and stream until stopped (SIGTERM/SIGINT); camera flags mirror rpicam-vid and, when given, override the relay\'s settings')
  .option('--config <path>', 'config file written by enroll (env PICAM_AGENT_CONFIG)')
  .option('--relay <url>', 'relay URL, overriding the config file (env PICAM_RELAY); the credential comes from the file or env PICAM_DEVICE_TOKEN')
  .option('--width <px>', 'frame width (default 1280)', integer)
  .option('--height <px>', 'frame height (default 720)', integer)
  .option('--framerate <fps>', 'frames per second (default 30)', decimal)
  .option('--bitrate <bps>', 'H.264 bitrate, e.g. 2000000 or 2mbps (default 2 Mbit/s)', bitrate)
  .option('--intra <frames>', 'keyframe interval in frames (default 30)', integer)
  .addOption(new Option('--profile <profile>', 'H.264 profile (default high)').choices(['baseline', 'main', 'high']))
  .option('--level <level>', 'H.264 level, e.g. 4.1')
  .option('--rotation <degrees>', '0 or 180', rotation)
  .option('--hflip', 'mirror horizontally')
  .option('--no-hflip', 'do not mirror horizontally, whatever the relay says')
  .option('--vflip', 'flip vertically')
  .option('--no-vflip', 'do not flip vertically, whatever the relay says')
  .option('--denoise <mode>', 'rpicam-vid denoise mode: auto, off, cdn_off, cdn_fast, cdn_hq')
  .option('--camera-command <path>', 'camera binary (default: rpicam-vid, else libcamera-vid, on PATH; env PICAM_CAMERA_COMMAND)')
  .option('--camera-model <model>', 'board model as in /proc/device-tree/model (default: detected); a Pi 5 gets --codec libav --low-latency')
  .option('--audio', 'also stream sound from an ALSA capture device, AAC-LC (track 2)')
  .option('--no-audio', 'no sound, whatever the config file says')
  .option('--audio-device <device>', 'ALSA capture device, e.g. hw:1,0 or plughw:1,0 (default: default); `picam-agent check` lists them')
  .option('--audio-command <command line>', 'run this through sh -c instead of ffmpeg; it must write ADTS AAC-LC to stdout, e.g. "arecord -q -D hw:1,0 -f S16_LE -r 48000 -c 1 -t raw | ffmpeg -f s16le -ar 48000 -ac 1 -i - -c:a aac -f adts -" (env PICAM_AUDIO_COMMAND)')
  .option('--audio-bitrate <bps>', 'AAC bitrate, e.g. 64000 or 64k (default 64k)', bitrate)
  .option('--audio-rate <hz>', 'sample rate (default 48000)', integer)
  .option('--audio-channels <n>', 'channels (default 1)', integer)
  .option('--backfill-mb <MiB>', 'RAM kept for the most recent frames, sent to the relay after a dropped link so its recording has no hole (default 64 = ~4 min at 2 Mbit/s; 0 turns it off)', integer)
  .option('--backfill-dir <path>', 'also keep the frames the RAM ring lets go in this directory, on a USB disk (default: none; not the SD card: it wears out)')
  .option('--backfill-dir-mb <MiB>', 'most the --backfill-dir may hold, oldest dropped first (default 1024)', integer)
  .option('--on-demand', 'run the camera only while someone watches')
  .option('--no-on-demand', 'run the camera all the time, whatever the relay says')
  .addOption(new Option('--log-level <level>', 'log level (env LOG_LEVEL)').choices(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']))
  .addOption(new Option('--tuning <pairs>', 'delays and limits, key=value,... (tests; env PICAM_AGENT_TUNING)').hideHelp())
  .action((opts: RunFlags) => {
    try {
      run(opts);
    } catch (error) {
      fail(error);
    }
  });

program
  .command('check')
  .description('diagnose: camera binary and sensor, audio devices, relay reachability, device credential')
  .option('--config <path>', 'config file written by enroll (env PICAM_AGENT_CONFIG)')
  .option('--relay <url>', 'relay URL, overriding the config file')
  .option('--camera-command <path>', 'camera binary to test (default: rpicam-vid, else libcamera-vid, on PATH)')
  .option('--camera-model <model>', 'board model override')
  .option('--audio', 'check the audio capture too (also when the config file enables audio)')
  .option('--audio-command <command line>', 'audio command to expect instead of ffmpeg')
  .action(async (opts: { config?: string; relay?: string; cameraCommand?: string; cameraModel?: string; audio?: boolean; audioCommand?: string }) => {
    const lines = await check(opts).catch(fail);
    process.stdout.write(formatReport(lines));
    process.exitCode = lines.some((l) => l.ok === false) ? 1 : 0;
  });

await program.parseAsync(process.argv);
