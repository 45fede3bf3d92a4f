/**
 * A growable FIFO of bytes: append at the end, consume from the front. Amortised O(1) per byte
 * (capacity doubles, unread bytes are moved to the front only when space runs out), so feeding it
 * 1-byte chunks is as cheap as feeding it large ones.
 */
export class ByteQueue {
  private buf: Uint8Array;
  private read = 0;
  private write = 0;

  constructor(initialCapacity = 16 * 1024) {
    this.buf = new Uint8Array(Math.max(16, initialCapacity));
  }

  get length(): number {
    return this.write - this.read;
  }

  /** The unread bytes, as a view that is valid until the next append. */
  view(): Uint8Array {
    return this.buf.subarray(this.read, this.write);
  }

  append(chunk: Uint8Array): void {
    if (this.write + chunk.length > this.buf.length) {
      const unread = this.length;
      let capacity = this.buf.length;
      // Keep at least half free after compacting, so compaction cost stays amortised O(1) per byte.
      while (capacity < (unread + chunk.length) * 2) capacity *= 2;
      if (capacity === this.buf.length) {
        this.buf.copyWithin(0, this.read, this.write);
      } else {
        const grown = new Uint8Array(capacity);
        grown.set(this.buf.subarray(this.read, this.write));
        this.buf = grown;
      }
      this.read = 0;
      this.write = unread;
    }
    this.buf.set(chunk, this.write);
    this.write += chunk.length;
  }

  /** Removes n bytes from the front. */
  consume(n: number): void {
    this.read = Math.min(this.read + n, this.write);
    if (this.read === this.write) this.read = this.write = 0;
  }

  /** A copy of the first n bytes (to hand out: the queue reuses its memory). */
  copy(n: number): Uint8Array {
    return this.buf.slice(this.read, this.read + n);
  }
}
