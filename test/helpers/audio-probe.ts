/**
 * What the page really sends to the speaker, for the A/V sync tests: an init script (run before any
 * page script) that routes every connection to an AudioContext's destination through a tap
 * (DelayNode -> AnalyserNode -> destination).
 *
 * - With `extraOutputLatencyS` > 0 it simulates a slow output device (Bluetooth headphones:
 *   150-300 ms): the DelayNode really makes the sound come out that much later, and the context
 *   reports it the way such a device does (`outputLatency` + extra, `getOutputTimestamp()` context
 *   time - extra), so a page that schedules against what the context reports can compensate and one
 *   that ignores it is caught.
 * - `window.__picamAudioProbe.heard()` gives, independently of the page's bookkeeping, the context
 *   time of the sample coming out of the device now (the browser's own output timestamp, minus the
 *   tap's real delay) and the RMS level of what leaves the tap (sound is really playing).
 */

export interface AudioProbeReading {
  /** AudioContext time of the sample heard now; null before any context played */
  contextTime: number | null;
  /** RMS of the last 2048 samples leaving the tap (0 = silence) */
  rms: number;
}

declare global {
  interface Window {
    __picamAudioProbe?: { extraOutputLatencyS: number; heard(): AudioProbeReading };
  }
}

/**
 * The init script's source, for any engine's "add init script". Plain JavaScript in a string: a
 * serialised TypeScript function would carry whatever helpers the transpiler injected.
 */
export function audioProbeScript(extraOutputLatencyS = 0): string {
  return `(() => {
  const extra = ${JSON.stringify(extraOutputLatencyS)};
  if (typeof AudioContext === 'undefined') return;
  const proto = AudioContext.prototype;
  const originalTimestamp = proto.getOutputTimestamp;
  const latency = Object.getOwnPropertyDescriptor(proto, 'outputLatency');
  const originalConnect = AudioNode.prototype.connect;
  const taps = new WeakMap();
  let lastContext = null;
  const tapFor = (ctx) => {
    let tap = taps.get(ctx);
    if (!tap) {
      const delay = new DelayNode(ctx, { maxDelayTime: Math.max(1, extra * 2), delayTime: extra });
      const analyser = new AnalyserNode(ctx, { fftSize: 2048 });
      originalConnect.call(delay, analyser);
      originalConnect.call(analyser, ctx.destination);
      tap = { delay, analyser };
      taps.set(ctx, tap);
    }
    return tap;
  };
  AudioNode.prototype.connect = function (...args) {
    const destination = args[0];
    if (destination instanceof AudioDestinationNode) {
      const ctx = destination.context;
      if (ctx instanceof AudioContext) lastContext = ctx;
      const tap = tapFor(ctx);
      if (this !== tap.analyser) {
        originalConnect.call(this, tap.delay, ...args.slice(1));
        return destination;
      }
    }
    return originalConnect.apply(this, args);
  };
  if (extra > 0) {
    Object.defineProperty(proto, 'outputLatency', {
      configurable: true,
      enumerable: true,
      get() {
        return ((latency && latency.get && latency.get.call(this)) || 0) + extra;
      },
    });
    proto.getOutputTimestamp = function () {
      const ts = originalTimestamp.call(this);
      return ts.contextTime === undefined ? ts : { contextTime: ts.contextTime - extra, performanceTime: ts.performanceTime };
    };
  }
  const samples = new Float32Array(2048);
  window.__picamAudioProbe = {
    extraOutputLatencyS: extra,
    heard() {
      const ctx = lastContext;
      if (!ctx || ctx.state !== 'running') return { contextTime: null, rms: 0 };
      const ts = originalTimestamp.call(ctx);
      const contextTime = ts.contextTime !== undefined && ts.performanceTime > 0 ? ts.contextTime - extra + (performance.now() - ts.performanceTime) / 1000 : null;
      const tap = taps.get(ctx);
      if (tap) tap.analyser.getFloatTimeDomainData(samples);
      let sum = 0;
      for (const v of samples) sum += v * v;
      return { contextTime, rms: tap ? Math.sqrt(sum / samples.length) : 0 };
    },
  };
})();`;
}
