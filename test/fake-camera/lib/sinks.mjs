// Where the fakes' bytes go: stdout (a pipe or socket from the parent, or a file), a file, or TCP.
//
// Pipes and sockets are written through a net.Socket, i.e. non-blocking with libuv: each frame is
// one write(2) while the reader keeps up, exactly like the real camera's blocking write. The
// difference shows only when the reader stops reading: a blocking writeSync would freeze the
// event loop, and with it SIGTERM handling, while the real binary dies at once on SIGTERM.

import { closeSync, fstatSync, openSync, writeSync } from 'node:fs';
import { isatty } from 'node:tty';
import net from 'node:net';
import { once } from 'node:events';

// C stdio gives a pipe or file a buffer of st_blksize bytes: 4096 on Linux pipes.
export const STDIO_BLOCK = 4096;

/**
 * A writer over a stream socket. Waiting for 'drain' mirrors a blocking send(): a reader that
 * falls behind holds the camera back. `onClosed` runs once when the reader is gone (EPIPE,
 * reset, or for TCP the client's FIN), which ends the real rpicam-vid too.
 */
function socketWriter(socket, onClosed) {
  let closed = false;
  const leave = () => {
    if (closed) return;
    closed = true;
    onClosed();
  };
  socket.on('error', leave);
  socket.on('close', leave);
  return {
    async write(buf) {
      if (closed) return;
      if (!socket.write(buf)) await Promise.race([once(socket, 'drain'), once(socket, 'close')]);
    },
    isClosed: () => closed,
  };
}

// Regular files (and a forced TTY) never block for long: plain synchronous writes are fine.
function fdWriter(fd, onClosed) {
  let closed = false;
  return {
    write(buf) {
      if (closed) return;
      try {
        writeSync(fd, buf);
      } catch (err) {
        if (err.code !== 'EPIPE' && err.code !== 'EIO') throw err;
        closed = true;
        onClosed();
      }
    },
    isClosed: () => closed,
  };
}

/**
 * rpicam-vid writes files and stdout through a FILE*. With --flush it fflush()es after every
 * frame (one write per frame); without it only whole 4096-byte blocks leave, so frames sit in the
 * buffer until more arrive. That latency is what a missing --flush costs, and tests should see it.
 */
function stdioBuffered(writer, { flush }) {
  if (flush) return { write: (frame) => writer.write(frame), drain() {}, isClosed: writer.isClosed };
  let pending = [];
  let pendingBytes = 0;
  return {
    write(frame) {
      pending.push(frame);
      pendingBytes += frame.length;
      if (pendingBytes < STDIO_BLOCK) return undefined;
      const all = Buffer.concat(pending, pendingBytes);
      const whole = pendingBytes - (pendingBytes % STDIO_BLOCK);
      pending = whole < all.length ? [all.subarray(whole)] : [];
      pendingBytes = all.length - whole;
      return writer.write(all.subarray(0, whole));
    },
    /** What exit() does to a FILE*: write out what is left. */
    drain() {
      if (pendingBytes === 0 || writer.isClosed()) return;
      writer.write(Buffer.concat(pending, pendingBytes));
      pending = [];
      pendingBytes = 0;
    },
    isClosed: writer.isClosed,
  };
}

/** `-o -`. Returns null when stdout is a terminal (the caller decides whether that is fatal). */
export function openStdout({ flush, allowTty }, onClosed) {
  if (isatty(1) && !allowTty) return null;
  const stat = fstatSync(1);
  const writer =
    stat.isFIFO() || stat.isSocket()
      ? socketWriter(new net.Socket({ fd: 1, readable: false }), onClosed)
      : fdWriter(1, onClosed);
  return stdioBuffered(writer, { flush });
}

/** `-o some/file.h264`. */
export function openFile(path, { flush }, onClosed) {
  const fd = openSync(path, 'w');
  const sink = stdioBuffered(fdWriter(fd, onClosed), { flush });
  return {
    ...sink,
    drain() {
      sink.drain();
      closeSync(fd);
    },
  };
}

/** No -o at all: the real binary encodes and shows a preview, but writes nothing. */
export const nullSink = { write() {}, drain() {}, isClosed: () => false };

/**
 * rpicam-vid's NetOutput only takes numeric IPv4 ("tcp://a.b.c.d:port"), else "bad network address".
 * @returns {{ protocol: string, host: string, port: number }}
 */
export function parseNetworkAddress(url) {
  const m = /^([a-z]{1,3}):\/\/(\d+\.\d+\.\d+\.\d+):(\d+)/.exec(url);
  if (!m) throw new Error(`bad network address ${url}`);
  return { protocol: m[1], host: m[2], port: Number(m[3]) };
}

// rpicam-vid send()s each frame as it comes: no stdio buffering on sockets, --flush or not.
function tcpSink(socket, onClosed) {
  socket.setNoDelay(true);
  socket.on('end', () => socket.destroy()); // the client hung up: the next send() would fail
  socket.resume(); // rpicam never reads what clients send, but the FIN must be noticed
  const writer = socketWriter(socket, onClosed);
  return { write: (frame) => writer.write(frame), drain() {}, isClosed: writer.isClosed };
}

/**
 * --listen: serve exactly one client, then stop listening (the real one closes its listening
 * socket after accept()). Resolves once the client is connected. Binds the given address rather
 * than INADDR_ANY like the real one, so tests stay on loopback.
 */
export async function listenForOneClient({ host, port }, onListening, onClosed) {
  const server = net.createServer();
  server.listen({ host, port, backlog: 1 });
  await once(server, 'listening');
  onListening(server.address().port);
  const [socket] = await once(server, 'connection');
  server.close();
  return tcpSink(socket, onClosed);
}

/** Without --listen, tcp:// means connecting to a server that is already listening. */
export async function connectToServer({ host, port }, onClosed) {
  const socket = net.connect({ host, port });
  await once(socket, 'connect');
  return tcpSink(socket, onClosed);
}
