import type { Duplex } from 'node:stream';
import { WebSocket } from 'ws';
import type { EncodedFrame, FrameEncoder } from '../streams/frame.ts';

/**
 * WebSocket frames built once per video frame and written whole to every viewer's socket.
 *
 * `ws.send` frames a message per call: a fresh header Buffer, then cork / write / write / uncork,
 * which Node turns into a two-buffer `writev` with its bookkeeping, once per viewer per frame. A
 * server frame is unmasked, so its bytes are the same for every viewer: this module builds them
 * once (header + payload in one Buffer, like Gorilla's PreparedMessage or uWebSockets' prepared
 * messages) and each viewer costs one plain `socket.write` (bench/README.md "Profiles").
 *
 * Writing beside ws is safe because ws writes every frame to the socket synchronously, in call
 * order, when a connection has no permessage-deflate (the viewer server disables it): nothing of
 * ws' can sit half-written or queued between two of these writes. `ws.bufferedAmount` reads the
 * socket's own write queue, so byte budgets see these writes too.
 *
 * The stream asks for this (`preparedFrames`, its FrameEncoder) right after stamping the sequence
 * number. Memory: the frame is copied once into its prepared Buffer and the stream keeps only that
 * (`message` becomes a view into it), so nothing is held twice.
 *
 * Only for a camera with PREPARE_MIN_VIEWERS viewers or more. The copy is a new Buffer per frame,
 * and V8 counts every new external byte towards its next collection: with 50 cameras of 10 viewers
 * each it doubled the relay's allocation rate and its collections, the p99 rose from 14-20 ms to
 * 26-29 ms, and the CPU did not move (10 viewers save too little per frame to pay for the copy).
 * At 500 viewers of one camera it is the difference between ~1.16x and ~1.05x the floor's CPU.
 */

/** Below this many viewers a frame goes through ws.send (see above for why). */
export const PREPARE_MIN_VIEWERS = 32;

/** FIN + binary opcode; no RSV bits, no mask (server to client). */
const FIN_BINARY = 0x82;

function headerLength(payloadLength: number): number {
  if (payloadLength > 0xffff) return 10;
  return payloadLength > 125 ? 4 : 2;
}

/**
 * A copy of `payload` with a binary frame's header in front, in one Buffer (`wire`), and `payload`
 * as a view into it (a change to the view goes out on the wire).
 */
export function prepareBinaryFrame(payload: Buffer): EncodedFrame {
  const length = payload.byteLength;
  const offset = headerLength(length);
  const wire = Buffer.allocUnsafe(offset + length);
  wire[0] = FIN_BINARY;
  if (offset === 2) {
    wire[1] = length;
  } else if (offset === 4) {
    wire[1] = 126;
    wire.writeUInt16BE(length, 2);
  } else {
    wire[1] = 127;
    wire.writeUInt32BE(Math.floor(length / 2 ** 32), 2);
    wire.writeUInt32BE(length >>> 0, 6);
  }
  payload.copy(wire, offset);
  return { wire, payload: wire.subarray(offset) };
}

/** The WebSocket transport's FrameEncoder, handed to the stream hub at start (server.ts). */
export const preparedFrames: FrameEncoder = { minViewers: PREPARE_MIN_VIEWERS, encode: prepareBinaryFrame };

/** Options for the messages not prepared here: ws.send does not copy a Buffer. */
const BINARY = { binary: true, compress: false } as const;

/**
 * Sends one binary message: its prepared `wire` straight to the socket when there is one, else
 * `payload` through ws (catch-up copies, which each joiner gets once, are not prepared).
 * `socket` must be the one handed to `handleUpgrade` for `ws`.
 */
export function sendBinary(ws: WebSocket, socket: Duplex, payload: Buffer, wire?: Buffer): void {
  if (wire === undefined) {
    ws.send(payload, BINARY);
    return;
  }
  // ws.send on a closing socket is a no-op; a data frame after our close frame would break the protocol.
  if (ws.readyState !== WebSocket.OPEN) return;
  socket.write(wire);
}
