import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer } from 'ws';
import { prepareBinaryFrame, sendBinary } from './prepared-frames.ts';

/** A real ws server (noServer, as the relay's) and a real client, over loopback. */
async function connectPair(): Promise<{ server: WebSocket; socket: Duplex; client: WebSocket; close(): void }> {
  const http = createServer();
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false });
  const accepted = new Promise<{ server: WebSocket; socket: Duplex }>((resolve) => {
    http.on('upgrade', (req, socket, head) => wss.handleUpgrade(req, socket, head, (ws) => resolve({ server: ws, socket })));
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const { port } = http.address() as AddressInfo;
  const client = new WebSocket(`ws://127.0.0.1:${port}/`, { maxPayload: 64 * 1024 * 1024 });
  const { server, socket } = await accepted;
  await new Promise((resolve) => client.once('open', resolve));
  return {
    server,
    socket,
    client,
    close() {
      client.terminate();
      server.terminate();
      http.close();
    },
  };
}

function collect(client: WebSocket, count: number): Promise<Array<{ data: Buffer; binary: boolean }>> {
  const got: Array<{ data: Buffer; binary: boolean }> = [];
  return new Promise((resolve) => {
    client.on('message', (data: Buffer, binary: boolean) => {
      got.push({ data, binary });
      if (got.length === count) resolve(got);
    });
  });
}

const filled = (length: number, seed: number) => Buffer.from(Array.from({ length }, (_, i) => (i * 7 + seed) & 0xff));

test('prepared frames of every header size arrive whole, in order with what ws sends itself', async (t) => {
  const pair = await connectPair();
  t.after(() => pair.close());
  // 7-bit, 16-bit and 64-bit length forms, and the 125/126 and 65535/65536 edges.
  const payloads = [5, 125, 126, 16_000, 65_535, 65_536, 300_000].map((n, i) => filled(n, i));
  const received = collect(pair.client, payloads.length * 2 + 1);

  for (const [i, payload] of payloads.entries()) {
    pair.server.send(`text ${i}`);
    const { wire, payload: view } = prepareBinaryFrame(payload);
    sendBinary(pair.server, pair.socket, view, wire);
  }
  sendBinary(pair.server, pair.socket, Buffer.from('not prepared: through ws'));

  const got = await received;
  for (const [i, payload] of payloads.entries()) {
    assert.deepEqual(got[i * 2], { data: Buffer.from(`text ${i}`), binary: false });
    assert.equal(got[i * 2 + 1]!.binary, true);
    assert.ok(got[i * 2 + 1]!.data.equals(payload), `payload ${payload.byteLength} bytes intact`);
  }
  assert.deepEqual(got.at(-1), { data: Buffer.from('not prepared: through ws'), binary: true });
});

test('the payload is a view into the prepared bytes (held once): a change to it goes out on the wire', async (t) => {
  const pair = await connectPair();
  t.after(() => pair.close());
  const { wire, payload: view } = prepareBinaryFrame(Buffer.alloc(200));
  view.writeUInt32BE(0xdeadbeef, 4);
  const received = collect(pair.client, 1);
  sendBinary(pair.server, pair.socket, view, wire);
  const [message] = await received;
  assert.equal(message!.data.readUInt32BE(4), 0xdeadbeef);
});

test('bufferedAmount counts prepared writes the kernel has not taken yet, so byte budgets see them', async (t) => {
  const pair = await connectPair();
  t.after(() => pair.close());
  pair.client.pause(); // a viewer that does not read
  const big = prepareBinaryFrame(Buffer.alloc(32 * 1024 * 1024));
  sendBinary(pair.server, pair.socket, big.payload, big.wire);
  // More than loopback's socket buffers can take at once (a few MB each side).
  assert.ok(pair.server.bufferedAmount > 8 * 1024 * 1024, `bufferedAmount ${pair.server.bufferedAmount}`);
});

test('nothing is written after the relay closed the connection', async (t) => {
  const pair = await connectPair();
  t.after(() => pair.close());
  const closed = new Promise<number>((resolve) => pair.client.once('close', (code) => resolve(code)));
  pair.server.close(4010, 'too slow');
  const written = (pair.socket as Socket).bytesWritten;
  const late = prepareBinaryFrame(Buffer.from('after close'));
  sendBinary(pair.server, pair.socket, late.payload, late.wire);
  // A data frame after the close frame would break the protocol (the client stops reading at close).
  assert.equal((pair.socket as Socket).bytesWritten, written);
  assert.equal(await closed, 4010);
});
