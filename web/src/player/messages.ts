import type { RelayToViewerMessage } from '@picam/protocol';

/**
 * Validation of the relay's text messages to a viewer (init, state, expiring), by hand.
 *
 * protocol/src/messages.ts has the same rules as zod schemas, but zod with its locales is ~450 KB of
 * the browser bundle (5x everything else); the viewer needs only three small messages, so they are
 * checked here, just as strictly about types and just as lenient about extra fields. Keep in step
 * with messages.ts (web/test/messages.test.ts runs both on the same inputs).
 */

export class ViewerMessageError extends Error {
  override readonly name = 'ViewerMessageError';
}

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const isPositiveInt = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v > 0;
const isPositive = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v > 0;

function fail(message: string): never {
  throw new ViewerMessageError(message);
}

export function parseViewerMessage(text: string): RelayToViewerMessage {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    fail('message is not valid JSON');
  }
  if (!isObject(value)) fail('message is not an object');
  switch (value.type) {
    case 'init': {
      const { camera, video, audio } = value;
      if (!isObject(camera) || typeof camera.id !== 'string' || typeof camera.name !== 'string') fail('init: bad camera');
      if (
        !isObject(video) ||
        typeof video.codec !== 'string' ||
        video.codec.length < 1 ||
        video.codec.length > 64 ||
        !isPositiveInt(video.width) ||
        !isPositiveInt(video.height) ||
        !isPositive(video.framerate)
      ) {
        fail('init: bad video format');
      }
      if (audio !== null) {
        if (
          !isObject(audio) ||
          audio.codec !== 'mp4a.40.2' ||
          !isPositiveInt(audio.sampleRate) ||
          typeof audio.channels !== 'number' ||
          !Number.isInteger(audio.channels) ||
          audio.channels < 1 ||
          audio.channels > 8
        ) {
          fail('init: bad audio format');
        }
      }
      return value as RelayToViewerMessage;
    }
    case 'state':
      if (value.state !== 'online' && value.state !== 'offline') fail('state: bad state');
      if (value.reason !== undefined && (typeof value.reason !== 'string' || value.reason.length > 256)) fail('state: bad reason');
      return value as RelayToViewerMessage;
    case 'expiring':
      if (typeof value.expiresAt !== 'number' || !Number.isFinite(value.expiresAt)) fail('expiring: bad expiresAt');
      return value as RelayToViewerMessage;
    default:
      return fail(`unknown message type ${JSON.stringify(value.type)}`);
  }
}
