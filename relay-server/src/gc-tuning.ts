import { setFlagsFromString } from 'node:v8';

/**
 * How far V8 lets the old generation grow past what survived the last full GC before it starts the
 * next one: 300 % (a limit of 4x the live heap) instead of V8's adaptive ~1.1-2x.
 *
 * Why a relay needs it: V8 counts every external byte allocated since the last mark-compact (each
 * incoming frame is a Buffer from `ws`, and the GOP cache keeps about a second of them) against the
 * old generation's headroom. With the relay's ~18 MB heap that headroom is ~7 MB, so at 50 cameras
 * (27 MB/s of video) a full mark-compact ran every 0.3-0.5 s, each pausing the event loop 3-10 ms
 * plus incremental steps of up to 9 ms: the p99 of every frame in flight. At 300 % the same load
 * runs one every ~2 s (bench/README.md, "Relay, 50 cameras"), for ~25 MB more RSS at 50 cameras and
 * none measurable at one camera. Young-generation collections, which free most of those Buffers,
 * are not affected.
 *
 * Set at run time rather than on the node command line so every way of starting the relay
 * (`npm start`, systemd, the container, tests, benches) gets it. V8 reads this flag each time it
 * recomputes the limit after a GC, so setting it after start-up takes effect from the next GC.
 */
const HEAP_GROWING_PERCENT = 300;

export function tuneGarbageCollector(): void {
  setFlagsFromString(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
}
