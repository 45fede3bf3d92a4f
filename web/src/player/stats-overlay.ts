import { h } from '../dom.ts';
import { formatBitrate, formatFps, formatSize } from '../format.ts';
import type { PlayerStats } from './player-stats.ts';

const REFRESH_MS = 500;

/** The "Stats" panel over the picture: what the player knows, refreshed twice a second while shown. */
export class StatsOverlay {
  readonly el: HTMLElement;
  private readonly list: HTMLElement;
  private readonly read: () => PlayerStats;
  private timer = 0;

  constructor(read: () => PlayerStats) {
    this.read = read;
    this.list = h('dl', {});
    this.el = h('div', { class: 'player-stats', testid: 'player-stats' }, this.list);
    this.el.hidden = true;
  }

  toggle(): void {
    this.el.hidden = !this.el.hidden;
    window.clearInterval(this.timer);
    this.timer = 0;
    if (this.el.hidden) return;
    this.update();
    this.timer = window.setInterval(() => this.update(), REFRESH_MS);
  }

  private update(): void {
    const s = this.read();
    const latency =
      s.latencyMs === null ? '–' : `${Math.round(s.latencyMs)} ms${s.clockOffsetMs !== 0 ? ` (clock offset ${Math.round(s.clockOffsetMs)} ms)` : ''}`;
    const rows: [string, string, string][] = [
      ['Decoder', s.path === 'webcodecs' ? 'WebCodecs' : s.path === 'mse' ? 'MSE (jmuxer)' : '–', 'path'],
      ['Codec', s.codec ?? '–', 'codec'],
      ['Resolution', formatSize(s.width, s.height), 'resolution'],
      ['Frame rate', formatFps(s.fps), 'fps'],
      ['Bitrate', formatBitrate(s.bitrate), 'bitrate'],
      ['Latency', latency, 'latency'],
      ['Frames', `${s.framesShown} shown / ${s.framesDecoded} decoded / ${s.framesReceived} received`, 'frames'],
      ['Dropped', String(s.framesDropped), 'dropped'],
      [s.path === 'mse' ? 'Buffered' : 'Decode queue', s.path === 'mse' ? `${s.queue.toFixed(2)} s` : String(s.queue), 'queue'],
      ['Resets / reconnects', `${s.decoderResets} / ${s.reconnects}`, 'resets'],
    ];
    if (s.lastError) rows.push(['Last error', s.lastError, 'error']);
    this.list.replaceChildren(...rows.flatMap(([k, v, id]) => [h('dt', {}, k), h('dd', { testid: `stat-${id}` }, v)]));
  }

  destroy(): void {
    window.clearInterval(this.timer);
    this.el.remove();
  }
}
