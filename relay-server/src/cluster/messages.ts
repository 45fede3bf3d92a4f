import * as z from 'zod/mini';
import { RECORD_MODES, audioFormatSchema, cameraSettingsSchema, cameraStatusSchema, videoFormatSchema } from '@picam/protocol';

/**
 * What relay nodes say to each other over NATS (docs/ARCHITECTURE.md "More than one node"): the
 * subjects and the JSON messages on them. Media is not JSON: one NATS message per frame, the frame
 * exactly as the wire format carries it, the owner's epoch in a header. Camera ids are URL-safe
 * (no dots), so they fit in a subject token.
 */

export const subjects = {
  media: (cameraId: string) => `picam.cam.${cameraId}.media`,
  demand: (cameraId: string) => `picam.cam.${cameraId}.demand`,
  gop: (cameraId: string) => `picam.cam.${cameraId}.gop`,
  status: (cameraId: string) => `picam.cam.${cameraId}.status`,
  owner: (cameraId: string) => `picam.cam.${cameraId}.owner`,
  allStatus: 'picam.cam.*.status',
  allOwners: 'picam.cam.*.owner',
  control: 'picam.ctl',
  loginLimits: 'picam.login',
  nodeViewers: (nodeId: string) => `picam.node.${nodeId.replace(/[.*>\s]/g, '_')}.viewers`,
  allNodeViewers: 'picam.node.*.viewers',
} as const;

/** The camera id in `picam.cam.<id>.<kind>`. */
export function cameraOfSubject(subject: string): string | undefined {
  const parts = subject.split('.');
  return parts.length === 4 ? parts[2] : undefined;
}

/** The NATS header carrying the owner's epoch on every media message (a stale owner's frames are dropped). */
export const EPOCH_HEADER = 'Picam-Epoch';

const publisherInfoSchema = z.object({
  agentVersion: z.string(),
  framerate: z.optional(z.number()),
  audio: z.nullable(audioFormatSchema),
});

const liveStatusSchema = z.object({
  online: z.boolean(),
  viewers: z.number(),
  video: z.nullable(videoFormatSchema),
  audio: z.nullable(audioFormatSchema),
  bitrate: z.number(),
  framerate: z.number(),
  camera: z.nullable(cameraStatusSchema),
  agentVersion: z.nullable(z.string()),
  connectedAt: z.nullable(z.number()),
  lastFrameAt: z.nullable(z.number()),
});

/** `picam.cam.<id>.owner`: a node claimed the camera (its agent said hello there). */
export const ownerMessageSchema = z.object({ node: z.string(), epoch: z.number() });

/** `picam.cam.<id>.status`: the owner's live status (on change and every 2 s); `info` while its agent is connected. */
export const statusMessageSchema = z.object({
  node: z.string(),
  epoch: z.number(),
  status: liveStatusSchema,
  info: z.nullable(publisherInfoSchema),
});
export type StatusMessage = z.infer<typeof statusMessageSchema>;

/** `picam.cam.<id>.demand` (and the GOP request's body): a node's viewers of the camera. */
export const demandMessageSchema = z.object({ node: z.string(), viewers: z.number() });

/** The JSON part of a GOP reply (gop-codec.ts). */
export const gopMetaSchema = z.object({
  node: z.string(),
  epoch: z.number(),
  info: z.nullable(publisherInfoSchema),
  camera: z.nullable(cameraStatusSchema),
});
export type GopMeta = z.infer<typeof gopMetaSchema>;

/** `picam.node.<node>.viewers`: that node's viewers per grant (a share's maxViewers holds cluster-wide). */
export const nodeViewersSchema = z.object({ node: z.string(), grants: z.record(z.string(), z.number()) });

/** `picam.ctl`: what the accounts side told one node's LiveCameras, for every other node's sockets. */
export const controlMessageSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('grantRevoked'), node: z.string(), grantId: z.string() }),
  z.object({ type: z.literal('credentialRevoked'), node: z.string(), cameraId: z.string() }),
  z.object({ type: z.literal('cameraDeleted'), node: z.string(), cameraId: z.string() }),
  z.object({ type: z.literal('recheckUser'), node: z.string(), userId: z.string() }),
  z.object({ type: z.literal('pushSettings'), node: z.string(), cameraId: z.string(), settings: cameraSettingsSchema }),
  z.object({ type: z.literal('recordMode'), node: z.string(), cameraId: z.string(), mode: z.enum(RECORD_MODES) }),
]);
export type ControlMessage = z.infer<typeof controlMessageSchema>;

/** `picam.login`: a login attempt counted on one node, for every other node's limits (shared-login-limits.ts). */
const keySchema = z.string().check(z.maxLength(1024));
export const loginLimitMessageSchema = z.object({
  node: z.string(),
  event: z.discriminatedUnion('type', [
    z.object({
      type: z.literal('admitted'),
      clientKey: keySchema,
      addressKey: keySchema,
      backoff: z.optional(z.object({ username: keySchema, until: z.number() })),
    }),
    z.object({ type: z.literal('refunded'), clientKey: keySchema, addressKey: keySchema }),
    z.object({ type: z.literal('failed'), username: keySchema }),
  ]),
});

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function encodeJson(message: unknown): Uint8Array {
  return encoder.encode(JSON.stringify(message));
}

/** A peer's JSON message, or undefined when it does not parse (logged by the caller, never thrown). */
export function decodeJson<T>(schema: z.ZodMiniType<T>, data: Uint8Array): T | undefined {
  try {
    const result = z.safeParse(schema, JSON.parse(decoder.decode(data)));
    return result.success ? result.data : undefined;
  } catch {
    return undefined;
  }
}
