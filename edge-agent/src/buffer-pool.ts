/**
 * Reusable buffers for outgoing frames. A fresh Buffer per frame is ~1 MB/s of garbage at
 * 1080p30 8 Mbit/s that lives outside the V8 heap until a GC happens to run: the agent's RSS
 * swung by ~25 MB with it. Frames are copied into a pooled buffer instead and it comes back once
 * the socket has taken the bytes.
 *
 * Buffers come in power-of-two sizes (MIN_BYTES and up), so a stream's frames reuse a couple of
 * size classes. Only what is free is held, at most `maxPooledBytes` of it; a buffer that never
 * comes back (a send that never completed) is simply left to the garbage collector.
 */
const MIN_BYTES = 16 * 1024;

export class BufferPool {
  private readonly maxPooledBytes: number;
  private readonly free = new Map<number, Uint8Array[]>();
  private pooledBytes = 0;

  constructor(maxPooledBytes: number) {
    this.maxPooledBytes = maxPooledBytes;
  }

  /** A buffer of at least `bytes` (its contents are stale: overwrite what you use). */
  acquire(bytes: number): Uint8Array {
    const size = sizeClass(bytes);
    const buffer = this.free.get(size)?.pop();
    if (buffer !== undefined) {
      this.pooledBytes -= size;
      return buffer;
    }
    return Buffer.allocUnsafeSlow(size);
  }

  /** Gives back a buffer from acquire() that nothing refers to any more. */
  release(buffer: Uint8Array): void {
    const size = buffer.byteLength;
    if (size !== sizeClass(size) || this.pooledBytes + size > this.maxPooledBytes) return;
    let list = this.free.get(size);
    if (list === undefined) this.free.set(size, (list = []));
    list.push(buffer);
    this.pooledBytes += size;
  }

  /** bytes held for reuse, for tests and stats */
  get heldBytes(): number {
    return this.pooledBytes;
  }
}

function sizeClass(bytes: number): number {
  return bytes <= MIN_BYTES ? MIN_BYTES : 2 ** Math.ceil(Math.log2(bytes));
}
