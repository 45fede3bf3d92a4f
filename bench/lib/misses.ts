import type { Row } from './table.ts';

/**
 * What `npm run bench` prints under its table for every FAIL row: where bench/README.md explains
 * that miss (the profile behind it, and what would close it). Kept beside the table so a reader of
 * the output needs nothing else to find the reason; the explanations themselves live in the README,
 * with the runs they come from.
 */

interface Explanation {
  figure: RegExp;
  section: string;
  summary: string;
}

const README = 'bench/README.md';

const EXPLANATIONS: Explanation[] = [
  {
    figure: /^relay CPU, \d+ cameras recording/,
    section: 'Recording',
    summary: "the writes themselves (one writev per fragment per camera, the page cache's copy) over a baseline with no viewers that is itself only a few % of a core; measured on a machine busy with other work",
  },
  {
    figure: /^fan-out \d+ cams .*latency/,
    section: 'Profiles: "50 cameras on this machine"',
    summary: 'most likely the garbage collector\'s pauses over the incoming frames (one new Buffer from ws each), with one event loop queueing 1500 frames a second; closed by a receive path without a Buffer per frame, or cameras sharded over processes',
  },
  {
    figure: /^fan-out 1 cam .*(CPU|latency)/,
    section: 'Profiles: "Relay, 500 / 1000 viewers: prepared frames"',
    summary: "the relay's writes are the floor's (one per viewer and frame); what is left is its per-viewer bookkeeping and the machine's noise",
  },
  {
    figure: /^agent .*CPU/,
    section: 'What the run says: "Agent" and Profiles: "Agent"',
    summary: "Node's event loop and a loopback TCP socket, not agent code (the agent is near a bare Node forwarder); only a native agent reaches 3x cat",
  },
  {
    figure: /^browser jmuxer .*(first picture|live edge)/,
    section: 'Browser latency, What was learned: "jmuxer (MSE) first picture"',
    summary: "the MSE pipeline's start (67-106 ms alone in a bare page) competes with the app's own start on the page's main thread",
  },
  {
    figure: /^browser .*first picture/,
    section: 'Browser latency, What was learned: "First picture"',
    summary: "the app's start on the main thread (parse, first render, player) and the first decode; the stage timeline printed above for each row shows where",
  },
  {
    figure: /^browser (Chromium|Firefox|WebKitGTK) .*frames shown/,
    section: 'Browser engines',
    summary: 'WebKitGTK without a GPU: drawing a decoded VideoFrame into the canvas starves its rendering updates (WebCodecs), and its <video> converts in software too (MSE); on the other engines, a busy machine (the box % beside the p50)',
  },
  {
    figure: /^browser (share link|WebCodecs) .*latency p99/,
    section: 'Browser latency, "The tail of the live picture"',
    summary: "the join's backlog (frames queued while the page started, still being decoded a second after the first picture) and a box too busy to schedule the page at all; the page's own draws no longer are (paint-method.ts)",
  },
  {
    figure: /^browser WebCodecs .*latency p50/,
    section: 'Browser latency, What was learned: "WebCodecs"',
    summary: "quantised by the 60 Hz refresh: the 30 Hz camera's phase against the display's decides a run's p50 (one refresh apart)",
  },
];

const FALLBACK: Omit<Explanation, 'figure'> = { section: 'Left to do', summary: 'see the README' };

/** Lines naming each missed target and where its explanation is; empty when nothing was missed. */
export function explainMisses(rows: readonly Row[]): string {
  const missed = rows.filter((r) => r.verdict === 'FAIL');
  if (missed.length === 0) return '';
  const lines = missed.map((row) => {
    const { section, summary } = EXPLANATIONS.find((e) => e.figure.test(row.figure)) ?? FALLBACK;
    return `- ${row.figure}: ${row.value} (target ${row.target})\n  why: ${summary}\n  in ${README}, ${section}`;
  });
  return `Missed (${missed.length}):\n${lines.join('\n')}\n`;
}
