import type {
  CameraCreated,
  CameraList,
  CameraPatch,
  CameraResponse,
  CameraSettings,
  ClipTokenResponse,
  EnrollmentResponse,
  LoginResponse,
  RecordingSpans,
  ShareCreate,
  ShareCreated,
  ShareList,
  ShareLookup,
  User,
  UserList,
  UserRemoved,
  UserResponse,
} from '@picam/protocol';
import { recordingsPath } from '@picam/protocol';
import { SESSION_GET, bearerGet, claimEarlyFetch } from './early-fetch.ts';

/**
 * The relay's HTTP API (relay-server/API.md) as typed functions; the shapes are the relay's own
 * (protocol/src/api.ts), re-exported for the pages. Every call is same-origin with the
 * session cookie; a 401 on a session call sends the browser to /login (the `onUnauthenticated` hook).
 */

export type { Camera, Enrollment, Share, ShareLookup, User } from '@picam/protocol';

export class ApiRequestError extends Error {
  override readonly name = 'ApiRequestError';
  readonly status: number;
  readonly code: string;
  readonly retryAfterSeconds: number | undefined;
  constructor(status: number, code: string, message: string, retryAfterSeconds?: number) {
    super(message);
    this.status = status;
    this.code = code;
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

let onUnauthenticated: () => void = () => {};
/** Called on a 401 from a session call (not login, not share calls). */
export function setUnauthenticatedHandler(handler: () => void): void {
  onUnauthenticated = handler;
}

interface RequestOptions {
  method?: string;
  body?: unknown;
  /** a share token instead of the session cookie */
  bearer?: string;
  /** a 401 is an answer here (login), not "go log in" */
  allowUnauthenticated?: boolean;
}

/** A GET (the session check, a share link's lookup) may have been started already by the boot script (early-fetch.ts). */
function send(path: string, options: RequestOptions): Promise<Response> {
  const method = options.method ?? 'GET';
  if (method === 'GET' && options.body === undefined) {
    return claimEarlyFetch(path, options.bearer) ?? fetch(path, options.bearer ? bearerGet(options.bearer) : SESSION_GET);
  }
  const headers: Record<string, string> = { Accept: 'application/json' };
  if (options.body !== undefined) headers['Content-Type'] = 'application/json';
  if (options.bearer) headers.Authorization = `Bearer ${options.bearer}`;
  return fetch(path, {
    method,
    headers,
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
    credentials: options.bearer ? 'omit' : 'same-origin',
    cache: 'no-store',
  });
}

async function request<T>(path: string, options: RequestOptions = {}): Promise<T> {
  let response: Response;
  try {
    response = await send(path, options);
  } catch {
    throw new ApiRequestError(0, 'network', 'The relay cannot be reached. Check your connection.');
  }
  if (response.status === 204) return undefined as T;
  let body: unknown = null;
  try {
    body = await response.json();
  } catch {
    // a proxy's HTML error page, or an empty body
  }
  if (!response.ok) {
    const error = (body as { error?: { code?: string; message?: string } } | null)?.error;
    const retry = Number(response.headers.get('Retry-After'));
    const err = new ApiRequestError(
      response.status,
      error?.code ?? `http_${response.status}`,
      error?.message ?? `The relay answered ${response.status} ${response.statusText}`,
      Number.isFinite(retry) && retry > 0 ? retry : undefined,
    );
    if (response.status === 401 && !options.bearer && !options.allowUnauthenticated) onUnauthenticated();
    throw err;
  }
  return body as T;
}

export const api = {
  login: (username: string, password: string) =>
    request<LoginResponse>('/api/auth/login', {
      method: 'POST',
      body: { username, password },
      allowUnauthenticated: true,
    }),
  logout: () => request<void>('/api/auth/logout', { method: 'POST', allowUnauthenticated: true }),
  me: () => request<UserResponse>('/api/auth/me'),
  changePassword: (currentPassword: string, newPassword: string) =>
    request<void>('/api/auth/password', { method: 'POST', body: { currentPassword, newPassword } }),

  cameras: () => request<CameraList>('/api/cameras'),
  camera: (id: string) => request<CameraResponse>(`/api/cameras/${encodeURIComponent(id)}`),
  addCamera: (name: string, settings?: Partial<CameraSettings>) =>
    request<CameraCreated>('/api/cameras', { method: 'POST', body: settings ? { name, settings } : { name } }),
  updateCamera: (id: string, patch: CameraPatch) =>
    request<CameraResponse>(`/api/cameras/${encodeURIComponent(id)}`, { method: 'PATCH', body: patch }),
  deleteCamera: (id: string) => request<void>(`/api/cameras/${encodeURIComponent(id)}`, { method: 'DELETE' }),
  reenroll: (id: string) =>
    request<EnrollmentResponse>(`/api/cameras/${encodeURIComponent(id)}/enrollment`, { method: 'POST' }),

  /** the recorded ranges of a camera between `from` and `to` (epoch ms) */
  recordings: (cameraId: string, from: number, to: number) => request<RecordingSpans>(recordingsPath(cameraId, from, to)),

  shares: (cameraId: string) => request<ShareList>(`/api/cameras/${encodeURIComponent(cameraId)}/shares`),
  createShare: (cameraId: string, body: ShareCreate) =>
    request<ShareCreated>(`/api/cameras/${encodeURIComponent(cameraId)}/shares`, {
      method: 'POST',
      body,
    }),
  revokeShare: (id: string) => request<void>(`/api/shares/${encodeURIComponent(id)}`, { method: 'DELETE' }),
  lookupShare: (token: string) => request<ShareLookup>('/api/share', { bearer: token }),
  /** a short-lived token for a clip link's clip.mp4 (a <video> sends no Authorization header) */
  clipToken: (token: string) => request<ClipTokenResponse>('/api/share/clip-token', { method: 'POST', bearer: token }),

  users: () => request<UserList>('/api/users'),
  addUser: (body: { username: string; password: string; role: User['role']; cameraIds?: string[] }) =>
    request<UserResponse>('/api/users', { method: 'POST', body }),
  updateUser: (id: string, body: { password?: string; role?: User['role']; cameraIds?: string[] }) =>
    request<UserResponse>(`/api/users/${encodeURIComponent(id)}`, { method: 'PATCH', body }),
  deleteUser: (id: string) => request<UserRemoved>(`/api/users/${encodeURIComponent(id)}`, { method: 'DELETE' }),
};

/** A readable sentence for an error from `request`, for form messages. */
export function errorText(err: unknown): string {
  if (err instanceof ApiRequestError) {
    if (err.code === 'rate_limited') return `Too many attempts. Try again in ${err.retryAfterSeconds ?? 60} s.`;
    return err.message;
  }
  return err instanceof Error ? err.message : String(err);
}
