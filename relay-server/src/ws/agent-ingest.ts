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
  type AgentMessage,
} from '@picam/protocol';
import type { HubFrame } from '../streams/frame.ts';
import type { SpsFormat } from '../streams/stream.ts';
import { agentViolationFor, type AgentViolation } from './close-codes.ts';

/**
 * Validation of everything an agent sends, apart from the socket so it can be tested alone.
 * Cheap per frame: the header and the first bytes of the payload. Only keyframes (one per GOP)
 * are scanned whole, to prove the IDR is there and read the format from the SPS.
 * Every failure is a ProtocolError; the connection maps it to a close code.
 */

/** One access unit at most 4 MiB (the agent's splitter cap), plus the header: the agent maxPayload. */
export const MAX_FRAME_PAYLOAD_BYTES = 4 * 1024 * 1024;
export const AGENT_MAX_MESSAGE_BYTES = MAX_FRAME_PAYLOAD_BYTES + 16;
/** hello and stats are a few hundred bytes. */
export const MAX_TEXT_BYTES = 64 * 1024;

export interface IngestedFrame {
  frame: HubFrame;
  sps?: SpsFormat;
}

function startsWithStartCode(p: Uint8Array): boolean {
  return p[0] === 0 && p[1] === 0 && (p[2] === 1 || (p[2] === 0 && p[3] === 1));
}

/** A message the protocol package accepts but the relay does not (content, order). */
export class IngestError extends Error {
  override readonly name = 'IngestError';
  readonly violation: AgentViolation;

  constructor(violation: AgentViolation, message: string) {
    super(message);
    this.violation = violation;
  }
}

const invalidFrame = (message: string) => new IngestError({ code: CloseCode.InvalidData, reason: 'invalid_frame' }, message);

/** The close code and metric label for anything ingest threw; undefined for a bug (not the agent's fault). */
export function violationOf(err: unknown): AgentViolation | undefined {
  if (err instanceof IngestError) return err.violation;
  if (err instanceof ProtocolError) return agentViolationFor(err.code);
  return undefined;
}

export function ingestFrame(message: Buffer): IngestedFrame {
  const { header, payload } = decodeFrame(message, MAX_FRAME_PAYLOAD_BYTES);
  if (header.catchUp) throw new ProtocolError('ERR_FRAME_FLAGS', 'agents must not send catch-up frames');
  const frame: HubFrame = {
    message,
    track: header.track,
    keyframe: header.keyframe,
    captureTimeUs: header.captureTimeUs,
    sequence: 0,
  };
  if (header.track === Track.Audio) {
    if (header.keyframe) throw new ProtocolError('ERR_FRAME_FLAGS', 'audio frames carry no keyframe flag');
    parseAdtsHeader(payload, 0);
    return { frame };
  }
  if (!startsWithStartCode(payload)) throw invalidFrame('video payload does not begin with an Annex-B start code');
  if (!header.keyframe) return { frame };
  const au = describeAccessUnit(payload);
  if (!au.keyframe) throw invalidFrame('keyframe-flagged frame holds no IDR slice');
  if (!au.sps || au.pps.length === 0) throw invalidFrame('keyframe without SPS/PPS in front (rpicam-vid needs --inline)');
  const sps = parseSps(au.sps);
  return {
    frame,
    sps: { codec: sps.codecString, width: sps.width, height: sps.height, ...(sps.frameRate ? { frameRate: sps.frameRate } : {}) },
  };
}

export function ingestText(data: Buffer): AgentMessage {
  if (data.byteLength > MAX_TEXT_BYTES) {
    throw new ProtocolError('ERR_FRAME_TOO_LARGE', `text message of ${data.byteLength} bytes (limit ${MAX_TEXT_BYTES})`);
  }
  return parseMessage(agentMessageSchema, data.toString('utf8'));
}
