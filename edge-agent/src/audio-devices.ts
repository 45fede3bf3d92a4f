import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** A capture device as `check` lists it. */
export interface AudioDevice {
  /** what `--audio-device` takes, e.g. hw:1,0 */
  id: string;
  description: string;
}

/** `arecord -l`: "card 1: Device [USB Audio Device], device 0: USB Audio [USB Audio]". */
export function parseArecordList(output: string): AudioDevice[] {
  const devices: AudioDevice[] = [];
  for (const line of output.split('\n')) {
    const m = /^card (\d+): (\S+) \[([^\]]*)\], device (\d+): ([^[]*?)\s*(?:\[([^\]]*)\])?\s*$/.exec(line.trim());
    if (m === null) continue;
    devices.push({ id: `hw:${m[1]},${m[4]}`, description: `${m[3]}: ${m[6] ?? m[5]}` });
  }
  return devices;
}

/** /proc/asound/pcm: "01-00: USB Audio : USB Audio : capture 1" (capture-capable lines only). */
export function parseProcPcm(text: string): AudioDevice[] {
  const devices: AudioDevice[] = [];
  for (const line of text.split('\n')) {
    const m = /^(\d+)-(\d+): ([^:]*?)\s*:\s*([^:]*?)\s*:.*\bcapture \d+/.exec(line);
    if (m === null) continue;
    devices.push({ id: `hw:${Number(m[1])},${Number(m[2])}`, description: m[3] === m[4] ? m[3]! : `${m[3]}: ${m[4]}` });
  }
  return devices;
}

/** /proc/asound/cards: " 1 [Device         ]: USB-Audio - USB Audio Device" (cards, not necessarily capture). */
export function parseProcCards(text: string): AudioDevice[] {
  const devices: AudioDevice[] = [];
  for (const line of text.split('\n')) {
    const m = /^\s*(\d+) \[[^\]]*\]: (.*)$/.exec(line);
    if (m !== null) devices.push({ id: `hw:${m[1]},0`, description: m[2]!.trim() });
  }
  return devices;
}

export interface AudioDeviceList {
  /** where the list came from */
  source: 'arecord -l' | '/proc/asound/pcm' | '/proc/asound/cards' | 'none';
  devices: AudioDevice[];
}

const ARECORD_TIMEOUT_MS = 5_000;

/** Capture devices: `arecord -l` when alsa-utils is installed, else what /proc/asound tells. Never throws. */
export async function listAudioDevices(env: NodeJS.ProcessEnv = process.env, procDir = '/proc/asound'): Promise<AudioDeviceList> {
  const arecord = await new Promise<string | null>((resolve) => {
    execFile('arecord', ['-l'], { env, timeout: ARECORD_TIMEOUT_MS }, (error, stdout) => {
      // arecord -l exits 1 with "no soundcards found" on stderr: still an answer.
      const code = (error as NodeJS.ErrnoException | null)?.code;
      resolve(error !== null && typeof code !== 'number' ? null : stdout);
    });
  });
  if (arecord !== null) return { source: 'arecord -l', devices: parseArecordList(arecord) };
  const read = (name: string): string | null => {
    try {
      return readFileSync(`${procDir}/${name}`, 'utf8');
    } catch {
      return null;
    }
  };
  const pcm = read('pcm');
  if (pcm !== null) return { source: '/proc/asound/pcm', devices: parseProcPcm(pcm) };
  const cards = read('cards');
  if (cards !== null) return { source: '/proc/asound/cards', devices: parseProcCards(cards) };
  return { source: 'none', devices: [] };
}
