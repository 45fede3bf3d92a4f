/**
 * Keyframe thumbnails for the recordings timeline, decoded by the browser itself: a short clip that
 * starts on the keyframe at or before a moment is loaded into an offscreen, muted <video>, and its
 * first picture is drawn, small, onto a canvas. No server-side image work, no extra library.
 *
 * Cheap on purpose: at most `MAX_PARALLEL` clips load at once, pictures already drawn are kept (a
 * small cache keyed by camera and moment), and moments nobody asks for any more are dropped from the
 * queue before they load (a zoom change, the page left).
 */

const MAX_PARALLEL = 2;
const CACHE_SIZE = 96;
const THUMB_HEIGHT = 72;
/** A thumbnail that has not decoded by then is given up (the slot goes to the next one). */
const LOAD_TIMEOUT_MS = 15_000;

interface Job {
  key: string;
  url: string;
  waiters: ((canvas: HTMLCanvasElement | null) => void)[];
}

export class ThumbnailLoader {
  private readonly cache = new Map<string, HTMLCanvasElement>();
  private readonly failed = new Set<string>();
  private queue: Job[] = [];
  private running = 0;
  private destroyed = false;

  /**
   * Resolves with a canvas holding the picture at `key` (a copy, so one picture can sit in several
   * places), or null when it could not be decoded. `url` is the short clip to load.
   */
  get(key: string, url: string): Promise<HTMLCanvasElement | null> {
    const cached = this.cache.get(key);
    if (cached) {
      // Refresh its place in the cache: most recently used last.
      this.cache.delete(key);
      this.cache.set(key, cached);
      return Promise.resolve(copyOf(cached));
    }
    if (this.failed.has(key) || this.destroyed) return Promise.resolve(null);
    return new Promise((resolve) => {
      const waiter = (canvas: HTMLCanvasElement | null) => resolve(canvas ? copyOf(canvas) : null);
      const queued = this.queue.find((j) => j.key === key);
      if (queued) queued.waiters.push(waiter);
      else this.queue.push({ key, url, waiters: [waiter] });
      this.pump();
    });
  }

  /** Drops every queued (not yet loading) thumbnail except `keep`: the timeline moved on. */
  retain(keep: ReadonlySet<string>): void {
    const dropped = this.queue.filter((j) => !keep.has(j.key));
    this.queue = this.queue.filter((j) => keep.has(j.key));
    for (const job of dropped) for (const w of job.waiters) w(null);
  }

  destroy(): void {
    this.destroyed = true;
    this.retain(new Set());
    this.cache.clear();
  }

  private pump(): void {
    while (!this.destroyed && this.running < MAX_PARALLEL && this.queue.length > 0) {
      const job = this.queue.shift()!;
      this.running++;
      void decodeFirstPicture(job.url).then((canvas) => {
        this.running--;
        if (canvas) {
          this.cache.set(job.key, canvas);
          while (this.cache.size > CACHE_SIZE) this.cache.delete(this.cache.keys().next().value!);
        } else {
          this.failed.add(job.key);
        }
        for (const w of job.waiters) w(this.destroyed ? null : canvas);
        this.pump();
      });
    }
  }
}

function copyOf(source: HTMLCanvasElement): HTMLCanvasElement {
  const canvas = document.createElement('canvas');
  canvas.width = source.width;
  canvas.height = source.height;
  canvas.getContext('2d')?.drawImage(source, 0, 0);
  return canvas;
}

/** Loads `url` into an offscreen muted <video> and draws its first picture; null if it never shows one. */
function decodeFirstPicture(url: string): Promise<HTMLCanvasElement | null> {
  return new Promise((resolve) => {
    const video = document.createElement('video');
    video.muted = true;
    video.playsInline = true;
    video.preload = 'auto';
    let done = false;
    const finish = (canvas: HTMLCanvasElement | null) => {
      if (done) return;
      done = true;
      window.clearTimeout(timer);
      video.removeEventListener('loadeddata', onData);
      video.removeEventListener('error', onError);
      // Let go of the decoder and the connection now, not when the element is collected.
      video.removeAttribute('src');
      video.load();
      resolve(canvas);
    };
    const onData = () => {
      if (!video.videoWidth || !video.videoHeight) return finish(null);
      const canvas = document.createElement('canvas');
      canvas.height = THUMB_HEIGHT;
      canvas.width = Math.round((THUMB_HEIGHT * video.videoWidth) / video.videoHeight);
      const ctx = canvas.getContext('2d');
      if (!ctx) return finish(null);
      ctx.drawImage(video, 0, 0, canvas.width, canvas.height);
      finish(canvas);
    };
    const onError = () => finish(null);
    const timer = window.setTimeout(() => finish(null), LOAD_TIMEOUT_MS);
    video.addEventListener('loadeddata', onData);
    video.addEventListener('error', onError);
    video.src = url;
    // iOS Safari loads no picture data into a video that is not playing; a muted inline one may play.
    video.addEventListener('loadedmetadata', () => {
      if (!done && video.readyState < HTMLMediaElement.HAVE_CURRENT_DATA) void video.play().catch(() => {});
    });
  });
}
