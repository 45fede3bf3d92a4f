import assert from 'node:assert/strict';
import { afterEach, test } from 'node:test';
import { FRAME_HEADER_BYTES, Track, writeFrameHeader } from '@picam/protocol';
import { CLAIM_WINDOW_MS, claimEarlySocket, discardEarlySocket, openEarlySocket } from '../src/player/early-socket.ts';

/** Just enough of a browser WebSocket: handler properties, binaryType, close(). */
class FakeSocket {
  binaryType = 'blob';
  onopen: ((e: unknown) => void) | null = null;
  onmessage: ((e: { data: unknown }) => void) | null = null;
  onclose: ((e: { code: number; reason: string }) => void) | null = null;
  closedWith: [number, string] | null = null;
  close(code: number, reason: string): void {
    this.closedWith = [code, reason];
  }
}

const URL_A = 'ws://relay.test/api/cameras/a/live';
let created: FakeSocket[] = [];
const create = () => {
  const socket = new FakeSocket();
  created.push(socket);
  return socket as unknown as WebSocket;
};

afterEach(() => {
  discardEarlySocket();
  created = [];
});

test('early socket: the claim gets the same socket and everything it saw, in order', () => {
  openEarlySocket(URL_A, ['picam.v1'], create);
  const socket = created[0]!;
  assert.equal(socket.binaryType, 'arraybuffer', 'binary frames must arrive as ArrayBuffer, as LiveConnection reads them');
  const frame = new ArrayBuffer(20);
  socket.onopen!({});
  socket.onmessage!({ data: '{"type":"init"}' });
  socket.onmessage!({ data: frame });

  const claimed = claimEarlySocket(URL_A, ['picam.v1']);
  assert.ok(claimed);
  assert.equal(claimed.ws, socket as unknown as WebSocket);
  assert.deepEqual(claimed.events, [{ type: 'open' }, { type: 'message', data: '{"type":"init"}' }, { type: 'message', data: frame }]);
  assert.equal(socket.onmessage, null, 'the claimer installs its own handlers; nothing is recorded twice');
  assert.equal(socket.closedWith, null);
  assert.equal(claimEarlySocket(URL_A, ['picam.v1']), null, 'claimed once only');
});

test('early socket: a claim for another camera or other subprotocols closes it and gets nothing', () => {
  openEarlySocket(URL_A, ['picam.v1'], create);
  assert.equal(claimEarlySocket('ws://relay.test/api/cameras/b/live', ['picam.v1']), null);
  assert.deepEqual(created[0]!.closedWith, [1000, 'not needed']);

  openEarlySocket(URL_A, ['picam.v1'], create);
  assert.equal(claimEarlySocket(URL_A, ['picam.v1', 'picam.token.x']), null);
  assert.deepEqual(created[1]!.closedWith, [1000, 'not needed']);
});

test('early socket: one that already closed (refused before sign-in) is not handed over', () => {
  openEarlySocket(URL_A, ['picam.v1'], create);
  created[0]!.onclose!({ code: 1006, reason: '' });
  assert.equal(claimEarlySocket(URL_A, ['picam.v1']), null, 'the player opens a socket of its own instead');
});

test('early socket: unclaimed, it is closed after the claim window; a newer one replaces it', (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  openEarlySocket(URL_A, ['picam.v1'], create);
  openEarlySocket(URL_A, ['picam.v1'], create);
  assert.deepEqual(created[0]!.closedWith, [1000, 'not needed'], 'only one waits at a time');
  t.mock.timers.tick(CLAIM_WINDOW_MS - 1);
  assert.equal(created[1]!.closedWith, null);
  t.mock.timers.tick(1);
  assert.deepEqual(created[1]!.closedWith, [1000, 'not needed']);
  assert.equal(claimEarlySocket(URL_A, ['picam.v1']), null);
});

test('early socket: while it waits, video is kept only from the newest keyframe on; text messages all stay, in order', () => {
  const frame = (track: number, keyframe: boolean, sequence: number) => {
    const bytes = new Uint8Array(FRAME_HEADER_BYTES + 4);
    writeFrameHeader(bytes, { track: track as Track, keyframe, catchUp: false, sequence, captureTimeUs: sequence * 33_333 });
    return bytes.buffer;
  };
  openEarlySocket(URL_A, ['picam.v1'], create);
  const socket = created[0]!;
  const received: Array<ArrayBuffer | string> = [
    '{"type":"init","n":1}',
    frame(Track.Video, true, 0),
    frame(Track.Video, false, 1),
    frame(Track.Audio, false, 0),
    '{"type":"status"}',
    frame(Track.Video, false, 2),
    frame(Track.Video, true, 3),
    frame(Track.Audio, false, 1),
    frame(Track.Video, false, 4),
  ];
  socket.onopen!({});
  for (const data of received) socket.onmessage!({ data });
  const claimed = claimEarlySocket(URL_A, ['picam.v1']);
  assert.ok(claimed);
  assert.deepEqual(
    claimed.events.map((e) => (e.type === 'open' ? 'open' : typeof e.data === 'string' ? e.data : `${new Uint8Array(e.data)[1]}:${new DataView(e.data).getUint32(4)}`)),
    ['open', '{"type":"init","n":1}', '{"type":"status"}', '1:3', '2:1', '1:4'],
  );
});
