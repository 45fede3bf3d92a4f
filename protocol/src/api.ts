import type { AudioFormat, CameraProcessStatus, CameraSettings, VideoFormat } from './messages.ts';

/**
 * The relay's HTTP API and live endpoint as both sides see them: the relay's route handlers build
 * these shapes (`satisfies`), the web app reads them. A renamed field fails the type check on both
 * sides at once. relay-server/API.md documents each endpoint.
 */

// ---- the live endpoint ---------------------------------------------------------------------------

/** First WebSocket subprotocol of every viewer socket; the relay answers with it. */
export const VIEWER_PROTOCOL = 'picam.v1';
/** A token offered as a second subprotocol (`picam.token.<jwt>`): it stays out of URLs and proxy logs. */
export const TOKEN_SUBPROTOCOL_PREFIX = 'picam.token.';

/** Path of a camera's live socket. */
export function livePath(cameraId: string): string {
  return `/api/cameras/${encodeURIComponent(cameraId)}/live`;
}

/** The subprotocols a viewer offers: the version, then its token when it has one instead of a cookie. */
export function viewerProtocols(token: string | undefined): string[] {
  return token ? [VIEWER_PROTOCOL, TOKEN_SUBPROTOCOL_PREFIX + token] : [VIEWER_PROTOCOL];
}

// ---- resources -----------------------------------------------------------------------------------

export type Role = 'admin' | 'viewer';

export interface User {
  id: string;
  username: string;
  role: Role;
  createdAt?: number;
  /** cameras a viewer may watch (admins see all: empty) */
  cameraIds?: string[];
}

/** A camera's live state, from the relay's streaming side. */
export interface LiveCameraStatus {
  online: boolean;
  viewers: number;
  video: VideoFormat | null;
  audio: AudioFormat | null;
  /** bits per second, measured over the last few seconds */
  bitrate: number;
  framerate: number;
  camera: CameraProcessStatus | null;
  agentVersion: string | null;
  connectedAt: number | null;
  lastFrameAt: number | null;
}

export interface Camera {
  id: string;
  name: string;
  settings: CameraSettings;
  createdAt: number;
  lastSeenAt: number | null;
  enrolled: boolean;
  /** whether the relay records this camera: its own setting, else the relay's RECORD_DEFAULT */
  record: RecordMode;
  status: LiveCameraStatus;
}

/** `PATCH /api/cameras/:id` body: every field optional; `record: null` falls back to RECORD_DEFAULT. */
export interface CameraPatch {
  name?: string;
  settings?: Partial<CameraSettings>;
  record?: RecordMode | null;
}

/** A one-time enrollment token and the command that uses it on the Pi. */
export interface Enrollment {
  token: string;
  expiresAt: number;
  command: string;
}

export type ShareState = 'active' | 'expired' | 'revoked';

export interface Share {
  id: string;
  cameraId: string;
  label: string | null;
  createdAt: number;
  expiresAt: number;
  revokedAt: number | null;
  maxViewers: number | null;
  viewers: number;
  state: ShareState;
  /** a link to this recorded time range (capture time, epoch ms) instead of the live picture */
  clip: TimeRange | null;
}

/** `POST /api/cameras/:id/shares` body. */
export interface ShareCreate {
  /** seconds from now (default one day), or give `expiresAt` (epoch ms); at most 30 days */
  expiresIn?: number;
  expiresAt?: number;
  label?: string;
  maxViewers?: number | null;
  /** a clip link: this recorded range (at most MAX_CLIP_MS long) plays without login; no live picture */
  clip?: TimeRange;
}

/** `GET /api/share` (Bearer share token): what the no-login viewer page opens. */
export interface ShareLookup {
  share: { id: string; label: string | null; expiresAt: number; clip: TimeRange | null };
  camera: { id: string; name: string };
}

/**
 * `POST /api/share/clip-token` (Bearer share token of a clip link): a short-lived token for the share
 * page's `<video src>`, which cannot send an Authorization header. It opens only this link's clip and
 * only until `expiresAt`; put it in clip.mp4's `token` query parameter (clipPath(..., token)).
 */
export interface ClipTokenResponse {
  token: string;
  expiresAt: number;
}

// ---- recordings ----------------------------------------------------------------------------------

/** A camera's `record` setting: `continuous` keeps everything its agent sends, within retention. */
export const RECORD_MODES = ['off', 'continuous'] as const;
export type RecordMode = (typeof RECORD_MODES)[number];

/** A time range of capture time, epoch milliseconds, `start` inclusive, `end` exclusive. */
export interface TimeRange {
  start: number;
  end: number;
}

/** `GET /api/cameras/:id/recordings?from=&to=`: the recorded ranges, merged where contiguous. */
export interface RecordingSpans {
  spans: TimeRange[];
}

/** Path of the covered ranges of a camera's recording between `from` and `to` (epoch ms). */
export function recordingsPath(cameraId: string, from: number, to: number): string {
  return `/api/cameras/${encodeURIComponent(cameraId)}/recordings?from=${Math.floor(from)}&to=${Math.ceil(to)}`;
}

/** The longest clip.mp4 the relay cuts (one hour); a longer range is refused with 400 clip_too_long. */
export const MAX_CLIP_MS = 3600 * 1000;

/**
 * Path of one MP4 of a camera's recording from the keyframe at or before `from` to `to` (epoch ms).
 * `token`: a clip token (ClipTokenResponse) for a page without a session, e.g. a clip share link.
 */
export function clipPath(cameraId: string, from: number, to: number, token?: string): string {
  const path = `/api/cameras/${encodeURIComponent(cameraId)}/recordings/clip.mp4?from=${Math.floor(from)}&to=${Math.ceil(to)}`;
  return token === undefined ? path : `${path}&token=${encodeURIComponent(token)}`;
}

// ---- response bodies -----------------------------------------------------------------------------

export interface LoginResponse {
  token: string;
  expiresAt: number;
  user: User;
}
export interface UserResponse {
  user: User;
}
export interface UserList {
  users: User[];
}
/** `DELETE /api/users/:id`: the share links the user made are revoked with the account. */
export interface UserRemoved {
  revokedShares: string[];
}
export interface CameraResponse {
  camera: Camera;
}
export interface CameraList {
  cameras: Camera[];
}
export interface CameraCreated {
  camera: Camera;
  enrollment: Enrollment;
}
export interface EnrollmentResponse {
  enrollment: Enrollment;
}
export interface ShareList {
  shares: Share[];
}
export interface ShareCreated {
  share: Share;
  token: string;
  url: string;
}

// ---- errors --------------------------------------------------------------------------------------

/** Every error the API answers with, as `{ "error": { "code", "message" } }`. */
export const API_ERROR_CODES = [
  'bad_request',
  'validation_failed',
  'unauthenticated',
  'invalid_credentials',
  'forbidden',
  'csrf_failed',
  'not_found',
  'camera_not_found',
  'conflict',
  'token_invalid',
  'token_expired',
  'link_expired',
  'link_revoked',
  'too_many_viewers',
  'no_recording',
  'clip_too_long',
  'range_not_satisfiable',
  'payload_too_large',
  'rate_limited',
  /** the relay's database (Postgres) cannot be reached: try again (503) */
  'database_unavailable',
  'internal',
] as const;
export type ApiErrorCode = (typeof API_ERROR_CODES)[number];

export interface ErrorBody {
  error: { code: ApiErrorCode; message: string };
}
