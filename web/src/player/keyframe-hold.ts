/**
 * Frames kept for a consumer that is not ready yet, from the newest keyframe on: the early socket
 * before the player claims it, the player while it picks a decoding path, the MSE renderer while its
 * MediaSource opens. A frame before the newest keyframe could only be decoded to reach that keyframe,
 * never shown at the live edge, so a keyframe drops every frame held before it; what is held is about
 * one GOP. Items that are not frames (the early socket's text messages and its 'open') stay, in order.
 *
 * Past `maxFrames` frames (a stream whose keyframes stopped coming) the hold drops all its frames and
 * refuses more until the next keyframe: a decoder could only start there anyway.
 */

import type { IncomingFrame } from './renderer.ts';

export type HeldKind = 'keyframe' | 'frame' | 'other';

export class KeyframeHold<T> {
  private readonly kindOf: (item: T) => HeldKind;
  private readonly maxFrames: number;
  private items: { item: T; frame: boolean }[] = [];
  private frames = 0;
  private skipToKeyframe = false;

  constructor(kindOf: (item: T) => HeldKind, maxFrames = Number.POSITIVE_INFINITY) {
    this.kindOf = kindOf;
    this.maxFrames = maxFrames;
  }

  /** frames held now */
  get frameCount(): number {
    return this.frames;
  }

  /** Holds the item; returns how many frames were dropped for it (this one included, if refused). */
  push(item: T): number {
    const kind = this.kindOf(item);
    if (kind === 'other') {
      this.items.push({ item, frame: false });
      return 0;
    }
    let dropped = 0;
    if (kind === 'keyframe') {
      dropped = this.dropFrames();
      this.skipToKeyframe = false;
    } else if (this.skipToKeyframe) {
      return 1;
    } else if (this.frames >= this.maxFrames) {
      this.skipToKeyframe = true;
      return this.dropFrames() + 1;
    }
    this.items.push({ item, frame: true });
    this.frames++;
    return dropped;
  }

  /** Everything held, oldest first; the hold is empty (and takes any frame) afterwards. */
  take(): T[] {
    const items = this.items.map((held) => held.item);
    this.clear();
    return items;
  }

  /** Drops everything; returns how many frames that was. */
  clear(): number {
    const frames = this.frames;
    this.items = [];
    this.frames = 0;
    this.skipToKeyframe = false;
    return frames;
  }

  private dropFrames(): number {
    const dropped = this.frames;
    if (dropped > 0) this.items = this.items.filter((held) => !held.frame);
    this.frames = 0;
    return dropped;
  }
}

/** A hold for video frames (the player's and the MSE renderer's). */
export function videoFrameHold(maxFrames: number): KeyframeHold<IncomingFrame> {
  return new KeyframeHold((frame) => (frame.header.keyframe ? 'keyframe' : 'frame'), maxFrames);
}
