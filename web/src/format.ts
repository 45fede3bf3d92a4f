/** Human-readable numbers for the UI. */

export function formatBitrate(bitsPerSecond: number): string {
  if (!Number.isFinite(bitsPerSecond) || bitsPerSecond <= 0) return '–';
  if (bitsPerSecond >= 1e6) return `${(bitsPerSecond / 1e6).toFixed(bitsPerSecond >= 1e7 ? 0 : 1)} Mbit/s`;
  return `${Math.round(bitsPerSecond / 1e3)} kbit/s`;
}

export function formatFps(fps: number): string {
  if (!Number.isFinite(fps) || fps <= 0) return '–';
  return `${fps >= 10 ? Math.round(fps) : fps.toFixed(1)} fps`;
}

export function formatSize(width: number | undefined, height: number | undefined): string {
  return width && height ? `${width}×${height}` : '–';
}

/** "3 d 4 h", "1 h 05 min", "4 min 09 s", "12 s"; "expired" at or below zero. */
export function formatTimeLeft(ms: number): string {
  if (ms <= 0) return 'expired';
  const s = Math.floor(ms / 1000);
  const d = Math.floor(s / 86400);
  const hours = Math.floor((s % 86400) / 3600);
  const min = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  if (d > 0) return `${d} d ${hours} h`;
  if (hours > 0) return `${hours} h ${String(min).padStart(2, '0')} min`;
  if (min > 0) return `${min} min ${String(sec).padStart(2, '0')} s`;
  return `${sec} s`;
}

export function formatDateTime(ms: number | null | undefined): string {
  if (!ms) return '–';
  return new Date(ms).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}

/** "just now", "5 min ago", "3 h ago", else a date. */
export function formatAgo(ms: number | null | undefined, now = Date.now()): string {
  if (!ms) return 'never';
  const s = Math.round((now - ms) / 1000);
  if (s < 45) return 'just now';
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  return formatDateTime(ms);
}

/** A wall-clock time to the second, "20:41:07"; with the day ("Sat 5 Dec, 20:41:07") when not today. */
export function formatClockTime(ms: number, now = Date.now()): string {
  const d = new Date(ms);
  const time = d.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false });
  if (d.toDateString() === new Date(now).toDateString()) return time;
  return `${d.toLocaleDateString(undefined, { weekday: 'short', day: 'numeric', month: 'short' })}, ${time}`;
}

/** A timeline tick's label: the day ("Sat 5") for day ticks, else the time of day ("14:00"). */
export function formatTickLabel(ms: number, tickMs: number): string {
  const d = new Date(ms);
  if (tickMs >= 86_400_000) return d.toLocaleDateString(undefined, { weekday: 'short', day: 'numeric' });
  return d.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit', hour12: false });
}
