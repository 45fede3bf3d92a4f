import type { Duplex } from 'node:stream';
import { WebSocket } from 'ws';

/**
 * WebSocket frames built once per video frame and written whole to every viewer's socket.
 *
 * `ws.send` frames a message per call: a fresh header Buffer, then cork / write / write / uncork,
 * which Node turns into a two-buffer `writev` with its bookkeeping, once per viewer per frame. A
 * server frame is unmasked, so its bytes are the same for every viewer: this module builds them
 * once (header + payload in one Buffer, like Gorilla's PreparedMessage or uWebSockets' prepared
 * messages) and each viewer costs one plain `socket.write`. At 500 viewers that took the relay's
 * CPU from ~1.2x to ~1.1x the bare-ws floor's (bench/README.md "Profiles").
 *
 * Writing beside ws is safe because ws writes every frame to the socket synchronously, in call
 * order, when a connection has no permessage-deflate (the viewer server disables it): nothing of
 * ws' can sit half-written or queued between two of these writes. `ws.bufferedAmount` reads the
 * socket's own write queue, so byte budgets see these writes too.
 *
 * Memory: the frame is copied once at ingest into its prepared Buffer and the hub keeps only that
 * (`payload` is a view into it), so nothing is held twice.
 */

/** payload view -> the whole frame around it; entries go with the payloads (the GOP cache's frames). */
const framed = new WeakMap<Buffer, Buffer>();

/** FIN + binary opcode; no RSV bits, no mask (server to client). */
const FIN_BINARY = 0x82;

function headerLength(payloadLength: number): number {
  if (payloadLength > 0xffff) return 10;
  return payloadLength > 125 ? 4 : 2;
}

/**
 * A copy of `payload` with a binary frame's header in front, in one Buffer. Returns the payload
 * view (what the rest of the relay handles: it may still be changed in place, like the hub's
 * sequence stamp, since it shares memory with the frame).
 */
export function prepareBinaryFrame(payload: Buffer): Buffer {
  const length = payload.byteLength;
  const offset = headerLength(length);
  const frame = Buffer.allocUnsafe(offset + length);
  frame[0] = FIN_BINARY;
  if (offset === 2) {
    frame[1] = length;
  } else if (offset === 4) {
    frame[1] = 126;
    frame.writeUInt16BE(length, 2);
  } else {
    frame[1] = 127;
    frame.writeUInt32BE(Math.floor(length / 2 ** 32), 2);
    frame.writeUInt32BE(length >>> 0, 6);
  }
  payload.copy(frame, offset);
  const view = frame.subarray(offset);
  framed.set(view, frame);
  return view;
}

/** Options for the messages not prepared here: ws.send does not copy a Buffer. */
const BINARY = { binary: true, compress: false } as const;

/**
 * Sends `payload` as one binary message: its prepared frame straight to the socket when there is
 * one, else through ws (catch-up copies, which each joiner gets once, are not prepared).
 * `socket` must be the one handed to `handleUpgrade` for `ws`.
 */
export function sendBinary(ws: WebSocket, socket: Duplex, payload: Buffer): void {
  const frame = framed.get(payload);
  if (frame === undefined) {
    ws.send(payload, BINARY);
    return;
  }
  // ws.send on a closing socket is a no-op; a data frame after our close frame would break the protocol.
  if (ws.readyState !== WebSocket.OPEN) return;
  socket.write(frame);
}
