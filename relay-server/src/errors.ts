import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { ApiErrorCode } from '@picam/protocol';

/**
 * Every request-time failure is an ApiError with a stable code; one error handler (app.ts) turns it
 * into `{ "error": { "code", "message" } }` with its status. A WebSocket upgrade that fails is
 * refused with the same status before any socket exists, so close codes (protocol/src/close-codes.ts)
 * are only for sockets already open. The codes are the API's (protocol/src/api.ts).
 */
export type { ApiErrorCode };

export class ApiError extends HTTPException {
  readonly code: ApiErrorCode;
  readonly retryAfterSeconds: number | undefined;

  constructor(status: ContentfulStatusCode, code: ApiErrorCode, message: string, retryAfterSeconds?: number) {
    super(status, { message });
    this.code = code;
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

export const unauthenticated = (message = 'authentication required') => new ApiError(401, 'unauthenticated', message);
export const forbidden = (message = 'not allowed') => new ApiError(403, 'forbidden', message);
export const notFound = (message = 'not found') => new ApiError(404, 'not_found', message);
export const cameraNotFound = () => new ApiError(404, 'camera_not_found', 'no such camera');
