// zod/mini, not zod: the same validation with a tree-shakable API. Classic zod made up 734 KiB of
// the agent's 1.2 MiB bundle and ~10 MB of a Pi's RSS; mini with the English messages is ~40 KiB.
import * as z from 'zod/mini';
import { en } from 'zod/locales';
import { ProtocolError } from './errors.ts';

/**
 * JSON control messages. Every text message on either hop is one of these, validated on receipt:
 * an unknown or malformed message is a ProtocolError (the receiver closes with a clear code),
 * never a crash. Schemas are strict about types and lenient about extra fields, so a newer
 * peer can add fields without breaking an older one.
 */

z.config(en());

export const cameraSettingsSchema = z.object({
  width: z.int().check(z.minimum(64), z.maximum(4096)),
  height: z.int().check(z.minimum(64), z.maximum(4096)),
  framerate: z.number().check(z.minimum(1), z.maximum(120)),
  /** bits per second */
  bitrate: z.int().check(z.minimum(50_000), z.maximum(50_000_000)),
  /** keyframe interval in frames (rpicam-vid --intra) */
  intra: z.int().check(z.minimum(1), z.maximum(600)),
  profile: z.enum(['baseline', 'main', 'high']),
  rotation: z.union([z.literal(0), z.literal(180)]),
  hflip: z.boolean(),
  vflip: z.boolean(),
  /** run the camera only while someone watches */
  onDemand: z.boolean(),
});
export type CameraSettings = z.infer<typeof cameraSettingsSchema>;

export const DEFAULT_CAMERA_SETTINGS: CameraSettings = {
  width: 1280,
  height: 720,
  framerate: 30,
  bitrate: 2_000_000,
  intra: 30,
  profile: 'high',
  rotation: 0,
  hflip: false,
  vflip: false,
  onDemand: false,
};

/**
 * The highest frame rate a stream may announce. Pi cameras reach 120 (240 on tiny crops); an SPS
 * whose VUI timing says more describes a tick, not a frame rate (videoFormatOfSps drops it).
 */
export const MAX_FRAMERATE = 1000;

export const videoFormatSchema = z.object({
  /** RFC 6381 string from the SPS, e.g. avc1.64001f */
  codec: z.string().check(z.minLength(1), z.maxLength(64)),
  width: z.int().check(z.positive()),
  height: z.int().check(z.positive()),
  framerate: z.number().check(z.positive(), z.maximum(MAX_FRAMERATE)),
});
export type VideoFormat = z.infer<typeof videoFormatSchema>;

export const audioFormatSchema = z.object({
  codec: z.literal('mp4a.40.2'),
  sampleRate: z.int().check(z.positive()),
  channels: z.int().check(z.minimum(1), z.maximum(8)),
});
export type AudioFormat = z.infer<typeof audioFormatSchema>;

export const cameraStatusSchema = z.enum(['starting', 'running', 'restarting', 'stalled', 'idle', 'failed']);
export type CameraProcessStatus = z.infer<typeof cameraStatusSchema>;

// ---- agent -> relay -------------------------------------------------------------------------

export const helloMessageSchema = z.object({
  type: z.literal('hello'),
  agentVersion: z.string().check(z.maxLength(64)),
  settings: cameraSettingsSchema,
  /** null until the first SPS has been seen (the relay also learns it from the stream) */
  video: z.nullable(videoFormatSchema),
  audio: z.nullable(audioFormatSchema),
  model: z.optional(z.string().check(z.maxLength(128))),
  cameraCommand: z.optional(z.string().check(z.maxLength(256))),
});
export type HelloMessage = z.infer<typeof helloMessageSchema>;

export const statsMessageSchema = z.object({
  type: z.literal('stats'),
  camera: cameraStatusSchema,
  audio: z.nullable(cameraStatusSchema),
  framesCaptured: z.int().check(z.nonnegative()),
  framesSent: z.int().check(z.nonnegative()),
  framesDropped: z.int().check(z.nonnegative()),
  tornFrames: z.int().check(z.nonnegative()),
  cameraRestarts: z.int().check(z.nonnegative()),
  queueBytes: z.int().check(z.nonnegative()),
  uptimeSeconds: z.number().check(z.nonnegative()),
  lastError: z.nullable(z.string().check(z.maxLength(1024))),
});
export type StatsMessage = z.infer<typeof statsMessageSchema>;

/** Microseconds since the Unix epoch (capture time), as the frame header carries it. */
const captureTimeUsSchema = z.int().check(z.nonnegative());

/**
 * The keyframe a backfill run starts on lies at most this far before the `fromUs` asked for: the
 * relay refuses older frames (an agent must not rewrite history), and an agent whose keyframe at or
 * before `fromUs` is older starts on its next keyframe instead (and reports `complete: false`).
 */
export const BACKFILL_MAX_LEAD_US = 60_000_000;

export const backfillDoneMessageSchema = z.object({
  type: z.literal('backfill-done'),
  /** the range the relay asked for, echoed */
  fromUs: captureTimeUsSchema,
  toUs: captureTimeUsSchema,
  /** frames sent in the run (both tracks) */
  frames: z.int().check(z.nonnegative()),
  /** false when the agent no longer held frames back to `fromUs` (or lost some while sending) */
  complete: z.boolean(),
});
export type BackfillDoneMessage = z.infer<typeof backfillDoneMessageSchema>;

// ---- relay -> agent -------------------------------------------------------------------------

export const settingsMessageSchema = z.object({
  type: z.literal('settings'),
  settings: cameraSettingsSchema,
});
export type SettingsMessage = z.infer<typeof settingsMessageSchema>;

export const demandMessageSchema = z.object({
  type: z.literal('demand'),
  viewers: z.int().check(z.nonnegative()),
});
export type DemandMessage = z.infer<typeof demandMessageSchema>;

/**
 * After a reconnect: send the frames captured in [fromUs, toUs), flagged backfill, starting on the
 * keyframe at or before `fromUs` (the decoder needs it), then `backfill-done`. `toUs` is the
 * capture time of the first live keyframe the relay got on this connection.
 */
export const backfillMessageSchema = z
  .object({
    type: z.literal('backfill'),
    fromUs: captureTimeUsSchema,
    toUs: captureTimeUsSchema,
  })
  .check(z.refine((m) => m.fromUs < m.toUs, { message: 'fromUs must be before toUs' }));
export type BackfillMessage = z.infer<typeof backfillMessageSchema>;

// ---- relay -> viewer ------------------------------------------------------------------------

export const initMessageSchema = z.object({
  type: z.literal('init'),
  camera: z.object({ id: z.string(), name: z.string() }),
  video: videoFormatSchema,
  audio: z.nullable(audioFormatSchema),
});
export type InitMessage = z.infer<typeof initMessageSchema>;

export const stateMessageSchema = z.object({
  type: z.literal('state'),
  state: z.enum(['online', 'offline']),
  /** why, when known: one of OfflineReason (players show their own words for it), else free text */
  reason: z.optional(z.string().check(z.maxLength(256))),
});

/**
 * `state: offline` reasons a player names. `reconnecting`: the camera is live, but the relay this
 * viewer is on lost its link to the relay the camera is connected to (a cluster's NATS); the
 * picture comes back by itself when the link does.
 */
export const OfflineReason = { Reconnecting: 'reconnecting' } as const;
export type OfflineReason = (typeof OfflineReason)[keyof typeof OfflineReason];
export type StateMessage = z.infer<typeof stateMessageSchema>;

export const expiringMessageSchema = z.object({
  type: z.literal('expiring'),
  /** milliseconds since the Unix epoch */
  expiresAt: z.number(),
});
export type ExpiringMessage = z.infer<typeof expiringMessageSchema>;

// ---- viewer -> relay ------------------------------------------------------------------------

export const ackMessageSchema = z.object({
  type: z.literal('ack'),
  /** last video sequence number received */
  sequence: z.int().check(z.minimum(0), z.maximum(0xffff_ffff)),
});
export type AckMessage = z.infer<typeof ackMessageSchema>;

/**
 * How much of the stream this viewer wants (docs/ARCHITECTURE.md "Viewer quality"). Keyframes only:
 * a keyframe (SPS/PPS ride in it) at most every `minIntervalMs` of capture time and no audio, for
 * a grid tile that is not the focus. Full (the default on connect): every frame, from the relay's
 * cached GOP on, so the picture is live at full rate at once.
 */
export const qualityMessageSchema = z.object({
  type: z.literal('quality'),
  keyframesOnly: z.boolean(),
  /** with keyframesOnly: the least capture time between two keyframes sent (0: every keyframe) */
  minIntervalMs: z.optional(z.int().check(z.minimum(0), z.maximum(600_000))),
});
export type QualityMessage = z.infer<typeof qualityMessageSchema>;

/**
 * A viewer that wants keyframes only from its first frame on (a grid tile) says so in its live
 * socket's URL, `?keyframes=<minIntervalMs>`: a `quality` message can only come once the socket is
 * open, after the relay may have sent it a whole GOP to join with.
 */
export const KEYFRAMES_QUERY = 'keyframes';

/** The keyframes-only request of a live URL's query; undefined when absent or not a valid interval. */
export function keyframesFromQuery(params: URLSearchParams): { keyframesOnly: true; minIntervalMs: number } | undefined {
  const value = params.get(KEYFRAMES_QUERY);
  if (value === null || !/^\d{1,6}$/.test(value)) return undefined;
  const parsed = qualityMessageSchema.safeParse({ type: 'quality', keyframesOnly: true, minIntervalMs: Number(value) });
  return parsed.success ? { keyframesOnly: true, minIntervalMs: parsed.data.minIntervalMs ?? 0 } : undefined;
}

export const agentMessageSchema = z.discriminatedUnion('type', [helloMessageSchema, statsMessageSchema, backfillDoneMessageSchema]);
export type AgentMessage = z.infer<typeof agentMessageSchema>;

export const relayToAgentMessageSchema = z.discriminatedUnion('type', [settingsMessageSchema, demandMessageSchema, backfillMessageSchema]);
export type RelayToAgentMessage = z.infer<typeof relayToAgentMessageSchema>;

export const relayToViewerMessageSchema = z.discriminatedUnion('type', [
  initMessageSchema,
  stateMessageSchema,
  expiringMessageSchema,
]);
export type RelayToViewerMessage = z.infer<typeof relayToViewerMessageSchema>;

export const viewerMessageSchema = z.discriminatedUnion('type', [ackMessageSchema, qualityMessageSchema]);
export type ViewerMessage = z.infer<typeof viewerMessageSchema>;

/** Parses and validates one text message; throws ProtocolError with a readable reason. */
export function parseMessage<T>(schema: z.ZodMiniType<T>, text: string): T {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new ProtocolError('ERR_MESSAGE_JSON', 'message is not valid JSON');
  }
  const result = schema.safeParse(value);
  if (!result.success) {
    const issue = result.error.issues[0];
    const where = issue && issue.path.length > 0 ? ` at ${issue.path.join('.')}` : '';
    throw new ProtocolError('ERR_MESSAGE_INVALID', `invalid message${where}: ${issue?.message ?? 'unknown'}`);
  }
  return result.data;
}

export function encodeMessage(message: AgentMessage | RelayToAgentMessage | RelayToViewerMessage | ViewerMessage): string {
  return JSON.stringify(message);
}
