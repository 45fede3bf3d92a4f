import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_AUDIO_CONFIG, defaultAudioArgs, resolveAudioCommand } from './audio-command.ts';
import { parseArecordList, parseProcCards, parseProcPcm } from './audio-devices.ts';
import { parseConfigFile, resolveAudioConfig } from './config.ts';
import { isAgentError } from './errors.ts';

test('default ffmpeg command: ALSA in, low-latency AAC-LC ADTS out on stdout', () => {
  const args = defaultAudioArgs({ device: 'hw:1,0', bitrate: 96_000, sampleRate: 44_100, channels: 2 });
  const after = (flag: string) => args[args.indexOf(flag) + 1];
  assert.equal(after('-f'), 'alsa');
  assert.equal(after('-i'), 'hw:1,0');
  assert.equal(after('-c:a'), 'aac');
  assert.equal(after('-b:a'), '96000');
  assert.equal(after('-ar'), '44100');
  assert.equal(after('-ac'), '2');
  assert.equal(after('-flush_packets'), '1');
  assert.equal(after('-fflags'), 'nobuffer');
  assert.ok(args.includes('adts'));
  assert.equal(args.at(-1), '-');
});

test('resolveAudioCommand: a custom command through sh -c, else ffmpeg on PATH, else a clear error', () => {
  const has = (file: string) => file === '/usr/bin/ffmpeg';
  assert.deepEqual(resolveAudioCommand({ ...DEFAULT_AUDIO_CONFIG, command: 'arecord | enc' }, '', has), { command: '/bin/sh', args: ['-c', 'arecord | enc'] });
  const ffmpeg = resolveAudioCommand(DEFAULT_AUDIO_CONFIG, '/nope:/usr/bin', has);
  assert.ok('command' in ffmpeg && ffmpeg.command === '/usr/bin/ffmpeg' && ffmpeg.args.includes('default'));
  const missing = resolveAudioCommand(DEFAULT_AUDIO_CONFIG, '/nope', has);
  assert.ok('error' in missing && /ffmpeg not found/.test(missing.error));
});

test('audio config: file, then PICAM_AUDIO_COMMAND, then flags; bad values refused', () => {
  const file = parseConfigFile(
    JSON.stringify({ relay: 'https://r.example', cameraId: 'c', credential: 'x', audio: { enabled: true, device: 'hw:1,0', channels: 2 } }),
    'config.json',
  );
  assert.deepEqual(file.audio, { ...DEFAULT_AUDIO_CONFIG, enabled: true, device: 'hw:1,0', channels: 2 });
  assert.equal(parseConfigFile(JSON.stringify({ relay: 'https://r.example', cameraId: 'c', credential: 'x' }), 'c.json').audio, undefined);
  assert.deepEqual(resolveAudioConfig({}, {}, undefined), DEFAULT_AUDIO_CONFIG);
  const resolved = resolveAudioConfig({ audio: false, audioRate: 44_100, audioBitrate: 32_000 }, { PICAM_AUDIO_COMMAND: 'tone' }, file.audio);
  assert.deepEqual(resolved, { ...DEFAULT_AUDIO_CONFIG, enabled: false, device: 'hw:1,0', channels: 2, sampleRate: 44_100, bitrate: 32_000, command: 'tone' });
  assert.equal(resolveAudioConfig({ audioCommand: 'flag' }, { PICAM_AUDIO_COMMAND: 'env' }, undefined).command, 'flag');
  for (const flags of [{ audioRate: 12_345 }, { audioChannels: 0 }, { audioBitrate: 1 }, { audioDevice: ' ' }]) {
    assert.throws(() => resolveAudioConfig(flags, {}, undefined), isAgentError, JSON.stringify(flags));
  }
  assert.throws(() => parseConfigFile(JSON.stringify({ relay: 'https://r', cameraId: 'c', credential: 'x', audio: { enabled: 'yes' } }), 'c.json'), isAgentError);
});

test('capture device lists: arecord -l, /proc/asound/pcm, /proc/asound/cards', () => {
  const arecord = [
    '**** List of CAPTURE Hardware Devices ****',
    'card 1: Device [USB Audio Device], device 0: USB Audio [USB Audio]',
    '  Subdevices: 1/1',
    '  Subdevice #0: subdevice #0',
    'card 2: sndrpigooglevoi [snd_rpi_googlevoicehat_soundcar], device 0: Google voiceHAT SoundCard HiFi voicehat-hifi-0 [Google voiceHAT SoundCard HiFi voicehat-hifi-0]',
  ].join('\n');
  assert.deepEqual(parseArecordList(arecord), [
    { id: 'hw:1,0', description: 'USB Audio Device: USB Audio' },
    { id: 'hw:2,0', description: 'snd_rpi_googlevoicehat_soundcar: Google voiceHAT SoundCard HiFi voicehat-hifi-0' },
  ]);
  const pcm = '00-00: bcm2835 HDMI 1 : bcm2835 HDMI 1 : playback 8\n01-00: USB Audio : USB Audio : playback 1 : capture 1\n';
  assert.deepEqual(parseProcPcm(pcm), [{ id: 'hw:1,0', description: 'USB Audio' }]);
  const cards = ' 0 [vc4hdmi0       ]: vc4-hdmi - vc4-hdmi-0\n                      vc4-hdmi-0\n 1 [Device         ]: USB-Audio - USB Audio Device\n';
  assert.deepEqual(parseProcCards(cards).map((d) => d.id), ['hw:0,0', 'hw:1,0']);
});
