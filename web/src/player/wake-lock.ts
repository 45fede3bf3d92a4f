/**
 * Keeps the screen on while a live picture plays (Screen Wake Lock API). The browser drops the lock
 * whenever the page is hidden; it is asked for again when the page is back in view and still wants
 * it. Letting go waits RELEASE_DELAY_MS: a reconnect of a second or two must not let a phone that has
 * been left watching for minutes dim its screen at once (its idle timer ran out long ago).
 * Where the API is missing (Firefox before 126, plain http) this does nothing.
 */

export const RELEASE_DELAY_MS = 10_000;

/** The parts of the API this uses (a stand-in in unit tests). */
export interface WakeLockSentinelLike {
  readonly released: boolean;
  release(): Promise<void>;
  addEventListener?(type: 'release', listener: () => void): void;
}
interface WakeLockApi {
  request(type: 'screen'): Promise<WakeLockSentinelLike>;
}
export interface WakeLockEnvironment {
  wakeLock: WakeLockApi | undefined;
  document: {
    readonly visibilityState: DocumentVisibilityState;
    addEventListener(type: 'visibilitychange', listener: () => void): void;
    removeEventListener(type: 'visibilitychange', listener: () => void): void;
  };
  setTimeout(fn: () => void, ms: number): number;
  clearTimeout(id: number): void;
}

function browserEnvironment(): WakeLockEnvironment {
  return {
    wakeLock: (navigator as Navigator & { wakeLock?: WakeLockApi }).wakeLock,
    document,
    setTimeout: (fn, ms) => window.setTimeout(fn, ms),
    clearTimeout: (id) => window.clearTimeout(id),
  };
}

export class ScreenWakeLock {
  private readonly env: WakeLockEnvironment;
  private wanted = false;
  private sentinel: WakeLockSentinelLike | null = null;
  private requesting: Promise<void> | null = null;
  private releaseTimer = 0;
  private destroyed = false;
  private readonly onVisibility = () => {
    if (this.env.document.visibilityState === 'visible') void this.acquire();
  };

  constructor(env: WakeLockEnvironment = browserEnvironment()) {
    this.env = env;
    env.document.addEventListener('visibilitychange', this.onVisibility);
  }

  /** the lock is held now */
  get held(): boolean {
    return this.sentinel !== null && !this.sentinel.released;
  }

  /** Want the screen on (a live picture plays) or not; letting go is delayed (see the top). */
  set(wanted: boolean): void {
    if (this.destroyed) return;
    if (wanted) {
      this.env.clearTimeout(this.releaseTimer);
      this.releaseTimer = 0;
      this.wanted = true;
      void this.acquire();
    } else if (this.wanted && !this.releaseTimer) {
      this.releaseTimer = this.env.setTimeout(() => {
        this.releaseTimer = 0;
        this.wanted = false;
        this.release();
      }, RELEASE_DELAY_MS);
    }
  }

  /** Leaving the page: let go now. */
  destroy(): void {
    this.destroyed = true;
    this.wanted = false;
    this.env.clearTimeout(this.releaseTimer);
    this.env.document.removeEventListener('visibilitychange', this.onVisibility);
    this.release();
  }

  private acquire(): Promise<void> {
    const api = this.env.wakeLock;
    if (!api || !this.wanted || this.held || this.env.document.visibilityState !== 'visible') return Promise.resolve();
    this.requesting ??= api
      .request('screen')
      .then((sentinel) => {
        this.sentinel = sentinel;
        // Let go after all (left the page while the request was on its way).
        if (!this.wanted) this.release();
      })
      .catch(() => {
        // Refused (battery saver, no user activation yet on some browsers): the screen may sleep.
      })
      .finally(() => {
        this.requesting = null;
      });
    return this.requesting;
  }

  private release(): void {
    const sentinel = this.sentinel;
    this.sentinel = null;
    if (sentinel && !sentinel.released) void sentinel.release().catch(() => {});
  }
}
