import {
  CloseCode,
  ProtocolError,
  Track,
  agentMessageSchema,
  decodeFrame,
  describeAccessUnit,
  parseAdtsHeader,
  parseMessage,
  parseSps,
  videoFormatOfSps,
  type AgentMessage,
  type SpsVideoFormat,
} from '@picam/protocol';
import type { AgentRejectReason } from '../metrics.ts';
import type { HubFrame } from '../streams/frame.ts';

/**
 * Validation of everything an agent sends, apart from the socket so it can be tested alone.
 * Cheap per frame: the header and the first bytes of the payload. Only keyframes (one per GOP)
 * are scanned whole, to prove the IDR is there and read the format from the SPS.
 * Every failure is an error carrying its close code: a ProtocolError (closeCode from protocol's
 * table) or an AgentViolation (closeCode and metric label given where it is thrown).
 */

/** One access unit at most 4 MiB (the agent's splitter cap), plus the header: the agent maxPayload. */
const MAX_FRAME_PAYLOAD_BYTES = 4 * 1024 * 1024;
export const AGENT_MAX_MESSAGE_BYTES = MAX_FRAME_PAYLOAD_BYTES + 16;
/** hello and stats are a few hundred bytes. */
export const MAX_TEXT_BYTES = 64 * 1024;

export interface IngestedFrame {
  frame: HubFrame;
  sps?: SpsVideoFormat;
  /** flagged backfill: an earlier frame the relay asked for, for the recording only */
  backfill: boolean;
}

function startsWithStartCode(p: Uint8Array): boolean {
  return p[0] === 0 && p[1] === 0 && (p[2] === 1 || (p[2] === 0 && p[3] === 1));
}

/**
 * A message the protocol package accepts but the relay does not (content, order), with the close
 * code and the metric label (picam_agent_rejected_total's reason) it ends the connection with.
 */
export class AgentViolation extends Error {
  override readonly name = 'AgentViolation';
  readonly closeCode: CloseCode;
  readonly reason: AgentRejectReason;

  constructor(closeCode: CloseCode, reason: AgentRejectReason, message: string) {
    super(message);
    this.closeCode = closeCode;
    this.reason = reason;
  }
}

const invalidFrame = (message: string) => new AgentViolation(CloseCode.InvalidData, 'invalid_frame', message);

/**
 * How a message the agent got wrong ends its connection: the error's own close code, and the metric
 * label (a ProtocolError's from the kind of message that failed). Undefined for anything else: a
 * relay bug, not the agent's fault.
 */
export function rejectionOf(err: unknown, binary: boolean): { closeCode: CloseCode; reason: AgentRejectReason } | undefined {
  if (err instanceof AgentViolation) return err;
  if (!(err instanceof ProtocolError)) return undefined;
  const reason = err.closeCode === CloseCode.MessageTooBig ? 'oversized' : binary ? 'invalid_frame' : 'invalid_message';
  return { closeCode: err.closeCode, reason };
}

/**
 * A frame from an agent, made by a constructor rather than as an object literal. V8 tracks object
 * literals by the place they are made and, after a collection finds nearly all of one place's
 * recent objects alive (the GOP cache keeps up to a second of frames), may make all its later
 * objects in the old generation at once ("pretenuring"). Frames made old keep their messages'
 * buffers alive until the next full collection: external memory then grows by the incoming bytes
 * (13.5 MB/s for 50 cameras) and forces a mark-compact every 2-5 s (docs/ARCHITECTURE.md, "GC").
 * Objects made by a constructor are not pretenured that way.
 */
class AgentFrame implements HubFrame {
  message: Buffer;
  track: Track;
  keyframe: boolean;
  captureTimeUs: number;
  sequence = 0;
  catchUp?: Buffer;

  constructor(message: Buffer, track: Track, keyframe: boolean, captureTimeUs: number) {
    this.message = message;
    this.track = track;
    this.keyframe = keyframe;
    this.captureTimeUs = captureTimeUs;
  }
}

export function ingestFrame(message: Buffer): IngestedFrame {
  const { header, payload } = decodeFrame(message, MAX_FRAME_PAYLOAD_BYTES);
  if (header.catchUp) throw new ProtocolError('ERR_FRAME_FLAGS', 'agents must not send catch-up frames');
  const frame: HubFrame = new AgentFrame(message, header.track, header.keyframe, header.captureTimeUs);
  if (header.track === Track.Audio) {
    if (header.keyframe) throw new ProtocolError('ERR_FRAME_FLAGS', 'audio frames carry no keyframe flag');
    parseAdtsHeader(payload, 0);
    return { frame, backfill: header.backfill };
  }
  if (!startsWithStartCode(payload)) throw invalidFrame('video payload does not begin with an Annex-B start code');
  if (!header.keyframe) return { frame, backfill: header.backfill };
  const au = describeAccessUnit(payload);
  if (!au.keyframe) throw invalidFrame('keyframe-flagged frame holds no IDR slice');
  if (!au.sps || au.pps.length === 0) throw invalidFrame('keyframe without SPS/PPS in front (rpicam-vid needs --inline)');
  return { frame, sps: videoFormatOfSps(parseSps(au.sps)), backfill: header.backfill };
}

export function ingestText(data: Buffer): AgentMessage {
  if (data.byteLength > MAX_TEXT_BYTES) {
    throw new ProtocolError('ERR_FRAME_TOO_LARGE', `text message of ${data.byteLength} bytes (limit ${MAX_TEXT_BYTES})`);
  }
  return parseMessage(agentMessageSchema, data.toString('utf8'));
}
