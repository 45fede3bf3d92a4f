import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A connected pair of local stream sockets to use as a capture process's stdout, read into ONE
 * reused buffer.
 *
 * Why not `stdio: 'pipe'`: Node reads such a pipe into a fresh buffer on every read. At 1080p30
 * 8 Mbit/s that is ~1 MB/s of garbage outside the V8 heap that only a GC frees, and a quiet agent
 * rarely collects: it showed as ~5 MB of the agent's RSS. A socket Node gets to create with
 * `onread` reads into our buffer instead. The child sees exactly what `'pipe'` gives it (libuv's
 * stdio pipes are Unix stream socketpairs too); the pair is made by connecting to a listener in a
 * fresh 0700 directory that is removed as soon as the two ends have met.
 */
export interface CaptureSocket {
  /** Pass as the child's stdout in spawn(); then call releaseChildEnd(). */
  readonly childEnd: Socket;
  /** The parent's end: 'end' when the child closed its stdout, 'close' when done. */
  readonly reader: Socket;
  /** Closes the parent's copy of the child's end, so the reader sees end-of-file when the child exits. */
  releaseChildEnd(): void;
  destroy(): void;
}

/**
 * `onChunk` gets a view of the shared read buffer: it is overwritten by the next read, so
 * whatever must outlive the call has to be copied.
 */
export async function openCaptureSocket(readBufferBytes: number, onChunk: (chunk: Uint8Array) => void): Promise<CaptureSocket> {
  const dir = mkdtempSync(join(tmpdir(), 'picam-agent-'));
  const path = join(dir, 'capture.sock');
  const server = createServer({ pauseOnConnect: true });
  let reader: Socket | undefined;
  try {
    server.listen(path);
    await once(server, 'listening');
    const accepted = once(server, 'connection') as Promise<[Socket]>;
    accepted.catch(() => {}); // awaited below; if connecting fails first, its rejection goes nowhere
    const buffer = Buffer.allocUnsafe(readBufferBytes);
    reader = connect({
      path,
      onread: {
        buffer,
        callback: (bytes: number, into: Uint8Array) => {
          onChunk(into.subarray(0, bytes));
          return true;
        },
      },
    });
    await once(reader, 'connect');
    const [childEnd] = await accepted;
    const readerEnd = reader;
    return {
      childEnd,
      reader: readerEnd,
      releaseChildEnd: () => childEnd.destroy(),
      destroy: () => {
        childEnd.destroy();
        readerEnd.destroy();
      },
    };
  } catch (error) {
    reader?.destroy();
    throw error;
  } finally {
    server.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
