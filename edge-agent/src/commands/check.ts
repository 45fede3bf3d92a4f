import { execFile } from 'node:child_process';
import WebSocket from 'ws';
import { listAudioDevices } from '../audio-devices.ts';
import { DEFAULT_AUDIO_CONFIG, resolveAudioCommand } from '../audio-command.ts';
import { findCameraCommand, isExecutable } from '../camera-command.ts';
import { defaultConfigPath, readConfigFile, resolveRunConfig, type RunConfig } from '../config.ts';
import { isAgentError } from '../errors.ts';
import { isPi5Family, readBoardModel } from '../pi-model.ts';
import { describeNetworkError, relayFetch } from '../relay-http.ts';
import { agentSocketUrl, relayEndpoint } from '../relay-url.ts';

export interface CheckFlags {
  config?: string | undefined;
  relay?: string | undefined;
  cameraCommand?: string | undefined;
  cameraModel?: string | undefined;
  /** check audio capture as `run --audio` would use it */
  audio?: boolean | undefined;
  audioCommand?: string | undefined;
}

/** One line of the report: ok true ✓, false ✗, null for information (·). */
export interface CheckLine {
  ok: boolean | null;
  text: string;
}

const COMMAND_TIMEOUT_MS = 15_000;
const NETWORK_TIMEOUT_MS = 8_000;

/**
 * `picam-agent check`: everything `run` needs, tested one by one, in the order a person would fix
 * them (camera software, camera, config, relay, credential). Never throws: every failure is a ✗.
 */
export async function check(flags: CheckFlags, env: NodeJS.ProcessEnv = process.env): Promise<CheckLine[]> {
  const lines: CheckLine[] = [];
  const add = (ok: boolean | null, text: string) => lines.push({ ok, text });

  const command = findCameraCommand(flags.cameraCommand ?? env.PICAM_CAMERA_COMMAND, env.PATH ?? '');
  if (command === null) {
    add(false, flags.cameraCommand ? `camera command ${flags.cameraCommand} not found or not executable` : 'neither rpicam-vid nor libcamera-vid found on PATH (install rpicam-apps)');
  } else {
    add(true, `camera command: ${command}`);
    const version = await runCamera(command, ['--version'], env);
    if (version.ok) add(true, `camera software: ${firstLine(version.output) ?? '(no version printed)'}`);
    else add(false, `${command} --version failed: ${firstLine(version.output) ?? version.error}`);
    const list = await runCamera(command, ['--list-cameras'], env);
    const cameras = parseCameraList(list.output);
    if (cameras.length > 0) for (const camera of cameras) add(true, `camera ${camera}`);
    else if (!list.ok && list.error !== 'exit') add(false, `${command} --list-cameras failed: ${list.error}`);
    else add(false, `no camera detected${firstLine(list.output) ? ` (${firstLine(list.output)})` : ''}: check the ribbon cable and camera_auto_detect=1 in config.txt`);
  }

  const model = flags.cameraModel ?? readBoardModel();
  add(null, model === null ? 'board: not a Raspberry Pi (no /proc/device-tree/model)' : `board: ${model}${isPi5Family(model) ? ' (libav encoder, --low-latency)' : ''}`);

  const configPath = flags.config ?? env.PICAM_AGENT_CONFIG ?? defaultConfigPath();
  let config: RunConfig | null = null;
  try {
    config = resolveRunConfig({ relay: flags.relay }, env, readConfigFile(configPath), configPath);
    add(true, config.configFileExists ? `config: ${configPath}${config.cameraId ? ` (camera ${config.cameraId})` : ''}` : 'config: from PICAM_RELAY / PICAM_DEVICE_TOKEN');
  } catch (error) {
    add(false, isAgentError(error) ? error.message : String(error));
  }
  await checkAudio(flags, env, config, add);
  if (config === null) return lines;

  try {
    const response = await relayFetch(relayEndpoint(config.relay, 'healthz'), {}, NETWORK_TIMEOUT_MS);
    if (response.ok) add(true, `relay reachable: ${config.relay}`);
    else add(false, `relay ${config.relay} answered /healthz with HTTP ${response.status}`);
    await response.body?.cancel();
  } catch (error) {
    add(false, isAgentError(error) ? error.message : String(error));
    return lines;
  }

  const status = await probeCredential(config.relay, config.credential);
  if (status === 101) add(true, 'device credential accepted');
  else if (status === 401 || status === 403) add(false, `device credential rejected (HTTP ${status}): revoked or re-enrolled; run picam-agent enroll with a new token`);
  else if (typeof status === 'number') add(false, `the relay answered the agent connection with HTTP ${status}`);
  else add(false, `cannot open the agent connection: ${status}`);
  return lines;
}

/**
 * Audio: the capture devices (always listed, as information when audio is off) and, when audio is
 * on, the encoder. With `--audio-command` the devices stay information: the command may not use ALSA.
 */
async function checkAudio(flags: CheckFlags, env: NodeJS.ProcessEnv, config: RunConfig | null, add: (ok: boolean | null, text: string) => void): Promise<void> {
  const audio = config?.audio;
  const enabled = flags.audio === true || audio?.enabled === true;
  const command = flags.audioCommand ?? audio?.command ?? env.PICAM_AUDIO_COMMAND;
  const strict = enabled && (command === undefined || command.trim() === '');
  const { source, devices } = await listAudioDevices(env);
  const off = enabled ? '' : ' (audio off: run --audio to stream it)';
  if (devices.length === 0) {
    const where = source === 'none' ? 'no arecord, no /proc/asound' : source;
    add(strict ? false : null, `no audio capture device found (${where})${off}${strict ? ': plug in a USB microphone, or pass --audio-device' : ''}`);
  } else {
    for (const device of devices) add(strict ? true : null, `audio capture device ${device.id}: ${device.description}${off}`);
  }
  if (!enabled) return;
  if (command !== undefined && command.trim() !== '') {
    add(null, `audio command: sh -c ${JSON.stringify(command)}`);
    return;
  }
  const resolved = resolveAudioCommand({ ...(audio ?? DEFAULT_AUDIO_CONFIG), command: undefined }, env.PATH ?? '', isExecutable);
  if ('error' in resolved) add(false, resolved.error);
  else add(true, `audio encoder: ${resolved.command} (device ${audio?.device ?? 'default'})`);
}


export function formatReport(lines: CheckLine[]): string {
  const problems = lines.filter((l) => l.ok === false).length;
  const body = lines.map((l) => `  ${l.ok === null ? '·' : l.ok ? '✓' : '✗'} ${l.text}`).join('\n');
  const verdict = problems === 0 ? 'All checks passed.' : `${problems} problem${problems === 1 ? '' : 's'} found.`;
  return `picam-agent check\n${body}\n${verdict}\n`;
}

/** rpicam-vid --list-cameras: "0 : imx708 [4608x2592 10-bit RGGB] (/base/...)" per camera. */
function parseCameraList(output: string): string[] {
  return output
    .split('\n')
    .map((line) => /^\s*(\d+)\s*:\s*(\S.*)$/.exec(line))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => `${m[1]}: ${m[2]}`);
}

function firstLine(text: string): string | null {
  return text.split('\n').map((l) => l.trim()).find((l) => l !== '') ?? null;
}

function runCamera(command: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ ok: boolean; output: string; error: string }> {
  return new Promise((resolve) => {
    execFile(command, args, { env, timeout: COMMAND_TIMEOUT_MS, maxBuffer: 1024 * 1024 }, (error, stdout, stderr) => {
      const output = `${stdout}\n${stderr}`;
      if (error === null) resolve({ ok: true, output, error: '' });
      else if (typeof error.code === 'number') resolve({ ok: false, output, error: 'exit' });
      else resolve({ ok: false, output, error: error.killed ? 'timed out' : error.message });
    });
  });
}

/**
 * Opens the agent endpoint with the credential and closes it as soon as the upgrade answers:
 * 101 means accepted. Resolves to the HTTP status, or to a reason when no answer came.
 * It never sends hello: a relay that takes a camera over only on hello leaves a running agent
 * with the same credential alone; one that takes over on connect closes that agent with 4009.
 */
function probeCredential(relay: string, credential: string): Promise<number | string> {
  return new Promise((resolve) => {
    let status: number | null = null;
    let failure = 'no answer';
    const ws = new WebSocket(agentSocketUrl(relay), {
      headers: { authorization: `Bearer ${credential}` },
      perMessageDeflate: false,
      handshakeTimeout: NETWORK_TIMEOUT_MS,
      followRedirects: false,
    });
    ws.on('upgrade', () => {
      status = 101;
    });
    ws.on('open', () => ws.close(1000, 'picam-agent check'));
    ws.on('unexpected-response', (_request, response) => {
      status = response.statusCode ?? 0;
      response.resume();
      ws.terminate();
    });
    ws.on('error', (error) => {
      failure = describeNetworkError(error);
    });
    ws.on('close', () => resolve(status ?? failure));
  });
}
