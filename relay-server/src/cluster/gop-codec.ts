import { decodeJson, encodeJson, gopMetaSchema, type GopMeta } from './messages.ts';

/**
 * A GOP reply in one NATS message: u32 length + the JSON meta (owner, epoch, publisher info), then
 * each catch-up frame as u32 length + the frame as the wire format carries it. Integers big-endian.
 */

export function encodeGop(meta: GopMeta, frames: readonly Uint8Array[]): Uint8Array {
  const json = encodeJson(meta);
  let size = 4 + json.byteLength;
  for (const frame of frames) size += 4 + frame.byteLength;
  const out = Buffer.allocUnsafe(size);
  out.writeUInt32BE(json.byteLength, 0);
  out.set(json, 4);
  let at = 4 + json.byteLength;
  for (const frame of frames) {
    out.writeUInt32BE(frame.byteLength, at);
    out.set(frame, at + 4);
    at += 4 + frame.byteLength;
  }
  return out;
}

/** The meta and the frames (each its own copy: the stream stamps and keeps them), or undefined if malformed. */
export function decodeGop(data: Uint8Array): { meta: GopMeta; frames: Buffer[] } | undefined {
  const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  if (buf.byteLength < 4) return undefined;
  const jsonBytes = buf.readUInt32BE(0);
  if (4 + jsonBytes > buf.byteLength) return undefined;
  const meta = decodeJson(gopMetaSchema, buf.subarray(4, 4 + jsonBytes));
  if (!meta) return undefined;
  const frames: Buffer[] = [];
  let at = 4 + jsonBytes;
  while (at < buf.byteLength) {
    if (at + 4 > buf.byteLength) return undefined;
    const length = buf.readUInt32BE(at);
    if (at + 4 + length > buf.byteLength) return undefined;
    frames.push(Buffer.from(buf.subarray(at + 4, at + 4 + length)));
    at += 4 + length;
  }
  return { meta, frames };
}
