import { pino, type DestinationStream, type Logger } from 'pino';

export type { Logger };

/**
 * pino, without transports: transports run in worker threads loaded from files by path, which a
 * single-file bundle cannot carry. So: JSON lines to stdout (journald, log shippers), and when a
 * person is watching a terminal, the same records through the small formatter below.
 * The device credential never reaches a log line (redacted by path as a second line of defence).
 */
export function createLogger(level: string, destination: DestinationStream = defaultDestination()): Logger {
  return pino(
    {
      level,
      base: { service: 'picam-agent' },
      redact: {
        paths: ['credential', '*.credential', 'token', '*.token', 'headers.authorization', '*.headers.authorization'],
        censor: '[redacted]',
      },
    },
    destination,
  );
}

function defaultDestination(): DestinationStream {
  // Synchronous: log lines are rare (none per frame), and none may be lost on process.exit().
  if (!process.stdout.isTTY) return pino.destination({ fd: 1, sync: true });
  const useColor = process.env.NO_COLOR === undefined;
  return { write: (line: string) => process.stdout.write(formatLine(line, useColor)) };
}

const LEVELS: Record<number, [string, string]> = {
  10: ['TRACE', '\x1b[90m'],
  20: ['DEBUG', '\x1b[36m'],
  30: ['INFO ', '\x1b[32m'],
  40: ['WARN ', '\x1b[33m'],
  50: ['ERROR', '\x1b[31m'],
  60: ['FATAL', '\x1b[35m'],
};
const OMIT = new Set(['level', 'time', 'msg', 'pid', 'hostname', 'service']);

/** `12:00:01.234 INFO  message key=value ...`; falls back to the raw line if it is not JSON. */
export function formatLine(line: string, useColor = false): string {
  let record: Record<string, unknown>;
  try {
    record = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line.endsWith('\n') ? line : `${line}\n`;
  }
  const time = typeof record.time === 'number' ? new Date(record.time).toISOString().slice(11, 23) : '';
  const [name, color] = LEVELS[record.level as number] ?? ['?    ', ''];
  const level = useColor ? `${color}${name}\x1b[0m` : name;
  const fields = Object.entries(record)
    .filter(([key]) => !OMIT.has(key))
    .map(([key, value]) => `${key}=${typeof value === 'string' ? value : JSON.stringify(value)}`);
  return `${time} ${level} ${String(record.msg ?? '')}${fields.length > 0 ? ` ${fields.join(' ')}` : ''}\n`;
}
