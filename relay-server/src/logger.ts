import { pino, type Logger } from 'pino';

export type { Logger };

/** Query-string tokens (`?token=...`) must never reach a log line (README "Security model"). */
export function redactUrl(url: string): string {
  return url.replace(/([?&](?:token|access_token|t)=)[^&#\s]*/gi, '$1[redacted]');
}

/**
 * Structured JSON logs (pino): cheap enough to stay on in production, and the usual shape for
 * log shippers. Authorization headers, cookies and tokens are redacted by path.
 */
export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'picam-relay' },
      redact: {
        paths: [
          'req.headers.authorization',
          'req.headers.cookie',
          'headers.authorization',
          'headers.cookie',
          '*.token',
          '*.password',
          '*.credential',
        ],
        censor: '[redacted]',
      },
    },
    destination,
  );
}
