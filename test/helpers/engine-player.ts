/// <reference lib="dom" />
import type {} from '../../web/src/player/test-hook.ts';
import type { EnginePage } from './engines.ts';

/**
 * The player as the tests see it in any engine: the page's test hook (`window.__picam.players`,
 * web/src/player/test-hook.ts) is read here and nowhere else in the engine tests, so a change to the
 * hook is one edit.
 */

export interface EnginePlayerStats {
  cameraId: string;
  state: string;
  path: string | null;
  framesReceived: number;
  framesDecoded: number;
  framesShown: number;
  lastFrameSequence: number;
  width: number;
  height: number;
  /** shown - capture time of the picture on screen, clock-adjusted (ms) */
  latencyMs: number | null;
  hasAudio: boolean;
  muted: boolean;
  audioPlaying: boolean;
  audioFramesDecoded: number;
  audioError: string | null;
  lastError: string | null;
  /** performance.now() in the page when read */
  at: number;
}

/** Every player on the page, read in one go. */
export function playersOn(page: EnginePage): Promise<EnginePlayerStats[]> {
  return page.evaluate(() => {
    const players = window.__picam?.players ?? [];
    return players.map((p) => {
      const s = p.stats();
      return {
        cameraId: p.root.dataset.cameraId ?? '',
        state: s.state,
        path: s.path,
        framesReceived: s.framesReceived,
        framesDecoded: s.framesDecoded,
        framesShown: s.framesShown,
        lastFrameSequence: s.lastFrameSequence,
        width: s.width,
        height: s.height,
        latencyMs: s.latencyMs,
        hasAudio: s.hasAudio,
        muted: s.muted,
        audioPlaying: s.audioPlaying,
        audioFramesDecoded: s.audioFramesDecoded,
        audioError: s.audioError,
        lastError: s.lastError,
        at: performance.now(),
      };
    });
  }, null);
}

export async function playerOn(page: EnginePage, cameraId: string): Promise<EnginePlayerStats | undefined> {
  return (await playersOn(page)).find((p) => p.cameraId === cameraId);
}

export interface LiveVideo {
  path: string | null;
  width: number;
  height: number;
  /** pictures shown per second over the window */
  fps: number;
  /** frames that arrived per second over the same window: the relay's delivery, the control */
  receivedFps: number;
  decodedFps: number;
  /** median and max of the player's measured latency, sampled through the window */
  latencyP50: number;
  latencyMax: number;
  windowMs: number;
}

const quantile = (values: number[], q: number) => [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor(q * values.length))] ?? Number.NaN;

/**
 * Waits until the camera's player is live, then watches it for `seconds`: pictures shown per
 * second (the page's own clock) and the player's latency, sampled every 200 ms.
 */
export async function watchLiveVideo(page: EnginePage, cameraId: string, options: { seconds?: number; timeoutMs?: number } = {}): Promise<LiveVideo> {
  const { seconds = 3, timeoutMs = 30_000 } = options;
  const deadline = Date.now() + timeoutMs;
  let first: EnginePlayerStats | undefined;
  for (;;) {
    first = await playerOn(page, cameraId).catch(() => undefined);
    // 45 pictures (1.5 s) in: a player that just opened decodes the catch-up GOP fast to reach the
    // live edge, and a browser still warming up (the first page after launch) takes a second to.
    if (first && first.state === 'live' && first.framesShown >= 45) break;
    if (Date.now() > deadline) throw new Error(`no live video from camera ${cameraId} in ${timeoutMs} ms: ${JSON.stringify(first ?? 'no player on the page')}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  let latencies: number[] = [];
  let last = first;
  while (last.at - first.at < seconds * 1000) {
    await new Promise((r) => setTimeout(r, 200));
    const now = await playerOn(page, cameraId);
    if (!now) throw new Error(`the player of camera ${cameraId} went away while watched`);
    if (now.path !== last.path || now.framesShown < last.framesShown || now.state !== 'live') {
      // The player changed decoding path (or reconnected): the window starts again on the new one.
      if (Date.now() > deadline) throw new Error(`camera ${cameraId}'s player did not settle in ${timeoutMs} ms: ${JSON.stringify(now)}`);
      first = now;
      last = now;
      latencies = [];
      continue;
    }
    if (now.latencyMs !== null) latencies.push(now.latencyMs);
    last = now;
  }
  const windowMs = last.at - first!.at;
  const perSecond = (a: number, b: number) => ((b - a) * 1000) / windowMs;
  return {
    path: last.path,
    width: last.width,
    height: last.height,
    fps: perSecond(first.framesShown, last.framesShown),
    receivedFps: perSecond(first.framesReceived, last.framesReceived),
    decodedFps: perSecond(first.framesDecoded, last.framesDecoded),
    latencyP50: quantile(latencies, 0.5),
    latencyMax: latencies.length ? Math.max(...latencies) : Number.NaN,
    windowMs,
  };
}

export function describeLive(v: LiveVideo): string {
  return `${v.path} ${v.width}x${v.height}: ${v.fps.toFixed(1)} fps shown (${v.decodedFps.toFixed(1)} decoded, ${v.receivedFps.toFixed(1)} received) over ${(v.windowMs / 1000).toFixed(1)} s, latency p50 ${v.latencyP50.toFixed(0)} ms max ${v.latencyMax.toFixed(0)} ms`;
}
