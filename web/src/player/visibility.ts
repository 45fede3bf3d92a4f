/**
 * A player in a tab nobody sees should cost nothing: no socket, no decoding. Phones freeze background
 * tabs anyway (iOS within seconds), and a socket left open meanwhile either dies or comes back with a
 * backlog of old frames. So: hidden -> pause at once (the player closes its socket); visible again ->
 * resume with a fresh connection, which the relay starts at the newest keyframe (the live edge).
 *
 * The one exception is a stream the user is listening to (sound on): it keeps running hidden, like
 * any audio player, and on return only jumps to the newest picture.
 */

/** The part of `document` this needs (a stand-in in unit tests). */
export interface VisibilitySource {
  readonly visibilityState: DocumentVisibilityState;
  addEventListener(type: 'visibilitychange', listener: () => void): void;
  removeEventListener(type: 'visibilitychange', listener: () => void): void;
}

export interface BackgroundPauseHandlers {
  /** the page went to the background: stop receiving and decoding */
  pause(): void;
  /** back in view after a pause: reconnect at the live edge */
  resume(): void;
  /** back in view without a pause (the stream kept running): show the newest picture */
  catchUp(): void;
  /** asked when the page is hidden: keep running in the background (sound playing) */
  keepRunning(): boolean;
}

export class BackgroundPause {
  private readonly source: VisibilitySource;
  private readonly handlers: BackgroundPauseHandlers;
  private pausedNow = false;
  private readonly onChange = () => this.update();

  constructor(handlers: BackgroundPauseHandlers, source: VisibilitySource = document) {
    this.handlers = handlers;
    this.source = source;
    source.addEventListener('visibilitychange', this.onChange);
  }

  /** paused because the page is hidden */
  get paused(): boolean {
    return this.pausedNow;
  }

  destroy(): void {
    this.source.removeEventListener('visibilitychange', this.onChange);
  }

  private update(): void {
    if (this.source.visibilityState === 'hidden') {
      if (this.pausedNow || this.handlers.keepRunning()) return;
      this.pausedNow = true;
      this.handlers.pause();
      return;
    }
    if (this.pausedNow) {
      this.pausedNow = false;
      this.handlers.resume();
    } else {
      this.handlers.catchUp();
    }
  }
}
