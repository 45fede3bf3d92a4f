import type { IncomingHttpHeaders } from 'node:http';
import type { CameraSettings, LiveCameraStatus, RecordMode } from '@picam/protocol';

/** Live state the streaming side knows and the API shows: its shape is the API's. */
export type { LiveCameraStatus };

/**
 * The seams between the relay's parts. Auth and the HTTP API (auth/, routes/, db/) implement
 * AccessControl and CameraRegistry; the streaming side (streams/, ws/) implements LiveCameras.
 * Each side only sees the other through these interfaces, so a NATS-backed hub or a Postgres
 * registry can replace one side later (a cluster of relays, docs/ARCHITECTURE.md "Where to add a feature").
 */

/** What a viewer connection was allowed by; re-checked when it ends or is revoked. */
export interface ViewerGrant {
  kind: 'session' | 'share';
  /** session id (the JWT's jti) or share id */
  id: string;
  userId: string | null;
  cameraId: string;
  /** ms since the epoch; the hub cuts the viewer off at this moment (4008 for shares, 4001 for sessions) */
  expiresAt: number;
}

export interface ViewerUpgradeRequest {
  cameraId: string;
  url: URL;
  headers: IncomingHttpHeaders;
  /** the client's address (client-address.ts) */
  address: string;
  /** the peer is a trusted proxy, so X-Forwarded-Host counts in the Origin check; default false */
  viaTrustedProxy?: boolean;
}

export interface AccessControl {
  /**
   * `Authorization: Bearer <device credential>` -> the camera it belongs to. Rejects with ApiError
   * (401; 503 database_unavailable when the registry cannot answer).
   */
  authenticateAgent(authorization: string | undefined): Promise<{ cameraId: string }>;
  /**
   * Cookie (with Origin check) or `?token=` (session or share token). Throws ApiError:
   * 401 unauthenticated/token_invalid, 403 forbidden, 404 camera_not_found, 410 link_expired/link_revoked,
   * 429 too_many_viewers.
   */
  authorizeViewer(request: ViewerUpgradeRequest): Promise<ViewerGrant>;
  /** still not revoked and not expired (rejects when the registry cannot answer: see isDatabaseUnavailable) */
  isGrantValid(grant: ViewerGrant): Promise<boolean>;
}

interface CameraRecord {
  id: string;
  name: string;
  settings: CameraSettings;
}

export interface CameraRegistry {
  get(cameraId: string): Promise<CameraRecord | undefined>;
  /** called on agent connect/disconnect only, never per frame */
  markSeen(cameraId: string, at: number): Promise<void>;
}


export interface LiveCameras {
  status(cameraId: string): LiveCameraStatus | undefined;
  /** viewers currently connected through this grant (share maxViewers) */
  viewersOfGrant(grantId: string): number;
  /** push new desired settings to the camera's agent, if connected */
  pushSettings(cameraId: string, settings: CameraSettings): void;
  /** camera deleted: close its agent and any socket waiting to become it (4004), and its viewers (4004), at once */
  cameraDeleted(cameraId: string): void;
  /** device credential revoked (re-enrollment): close its live agent and any socket waiting for hello with 4001 */
  credentialRevoked(cameraId: string): void;
  /** session or share revoked (logout, password change, share deleted): close its viewers at once */
  grantRevoked(grantId: string): void;
  /** a user's grants changed (camera ungranted, user removed): re-check that user's viewers */
  recheckUser(userId: string): void;
}

/** What the accounts side tells the recorder (recording/recorder.ts): a camera's `record` changed, or it went. */
export interface RecordingControl {
  /** the camera's effective mode: its own setting, else RECORD_DEFAULT (also for a new camera) */
  setMode(cameraId: string, mode: RecordMode): void;
  /** the camera was deleted (its index rows went with it): stop, delete its files */
  cameraDeleted(cameraId: string): void;
}

/**
 * The login limits' counts, shared by the nodes of a cluster (cluster/shared-login-limits.ts), so N
 * nodes do not give a guesser N times the attempts. Each node still decides and counts an attempt
 * in one synchronous step on its own counts (auth/login.ts); the others hear of it a few ms later.
 * The global hash cap stays per node: it protects that node's cores.
 */
export interface SharedLoginLimits {
  publish(event: LoginLimitEvent): void;
  /** `apply` gets every other node's events */
  onEvent(apply: (event: LoginLimitEvent) => void): void;
}

export type LoginLimitEvent =
  /** an attempt admitted: counted against the client (username + address key) and the address key */
  | { type: 'admitted'; clientKey: string; addressKey: string; backoff?: { username: string; until: number } }
  /** the admitted attempt was the right password (or was never hashed): taken back */
  | { type: 'refunded'; clientKey: string; addressKey: string }
  /** a wrong password for this username (its backoff counts these) */
  | { type: 'failed'; username: string };
