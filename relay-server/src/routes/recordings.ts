import { Hono, type Context } from 'hono';
import { getCookie } from 'hono/cookie';
import { MAX_CLIP_MS, type ClipTokenResponse, type RecordingSpans } from '@picam/protocol';
import { ApiError, cameraNotFound, forbidden, unauthenticated } from '../errors.ts';
import { findCamera } from '../db/cameras.ts';
import { recordedSpans } from '../db/recordings.ts';
import { shareClip } from '../db/shares.ts';
import type { AuthDeps } from '../auth/deps.ts';
import { TokenError, signClipToken, verifyClipToken } from '../auth/jwt.ts';
import { bearerToken, type ApiEnv } from '../auth/middleware.ts';
import { SESSION_COOKIE, authenticateSession, canView } from '../auth/sessions.ts';
import { authenticateShare, isShareActive } from '../auth/share-links.ts';
import { clipBytes, planClip } from '../recording/clip.ts';

/**
 * The recording API: covered spans, clip.mp4 (HTTP Range), and the short-lived clip token a clip
 * share page puts in its `<video src>`. Who may see a camera's recording is who may watch it live
 * (session + grant); a clip token opens only its share's range, while the share stays active.
 */

/** Longest range one spans request covers. */
const MAX_SPANS_RANGE_MS = 400 * 24 * 3600 * 1000;
/** A clip token outlives its clip's playing time by this (pauses, seeking back). */
const CLIP_TOKEN_MARGIN_MS = 30 * 60 * 1000;

function timeRange(c: Context, maxMs: number, tooLong: () => ApiError): { from: number; to: number } {
  const parse = (name: string) => {
    const raw = c.req.query(name);
    if (raw === undefined || !/^\d{1,16}$/.test(raw)) throw new ApiError(400, 'validation_failed', `${name}: epoch milliseconds required`);
    return Number(raw);
  };
  const from = parse('from');
  const to = parse('to');
  if (to <= from) throw new ApiError(400, 'validation_failed', 'to: must be after from');
  if (to - from > maxMs) throw tooLong();
  return { from, to };
}

export function recordingRoutes(deps: AuthDeps): Hono<ApiEnv> {
  const app = new Hono<ApiEnv>();
  const dir = deps.config.recording.dir;

  /** Session (Bearer or cookie) with the camera granted, or a clip token for this camera and range. */
  async function authorize(c: Context, cameraId: string, range: { from: number; to: number } | null): Promise<void> {
    const clipToken = c.req.query('token');
    if (clipToken !== undefined && range) {
      let claims;
      try {
        claims = await verifyClipToken(deps.keys, clipToken, deps.now());
      } catch (err) {
        if (!(err instanceof TokenError)) throw err; // the registry out of reach: 503, no verdict
        if (err.reason === 'expired') throw new ApiError(401, 'token_expired', 'clip token expired: ask for a new one');
        throw new ApiError(401, 'token_invalid', 'invalid clip token');
      }
      if (claims.sub !== cameraId || !(await isShareActive(deps, claims.jti, cameraId))) throw new ApiError(401, 'token_invalid', 'invalid clip token');
      if (range.from < claims.clip.start || range.to > claims.clip.end) throw forbidden('outside the shared clip');
      if (!(await findCamera(deps.db, cameraId))) throw cameraNotFound();
      return;
    }
    const token = bearerToken(c) ?? getCookie(c, SESSION_COOKIE);
    if (!token) throw unauthenticated();
    const { user } = await authenticateSession(deps, token);
    if (!(await findCamera(deps.db, cameraId))) throw cameraNotFound();
    if (!(await canView(deps, user, cameraId))) throw forbidden('this camera is not shared with you');
  }

  app.get('/cameras/:id/recordings', async (c) => {
    const cameraId = c.req.param('id');
    await authorize(c, cameraId, null);
    const { from, to } = timeRange(c, MAX_SPANS_RANGE_MS, () => new ApiError(400, 'validation_failed', 'from..to: at most 400 days'));
    return c.json({ spans: recordedSpans(deps.index, cameraId, from * 1000, to * 1000) } satisfies RecordingSpans);
  });

  app.get('/cameras/:id/recordings/clip.mp4', async (c) => {
    const cameraId = c.req.param('id');
    const range = timeRange(c, MAX_CLIP_MS, () => new ApiError(400, 'clip_too_long', `a clip is at most ${MAX_CLIP_MS / 60_000} minutes: ask for a shorter from..to`));
    await authorize(c, cameraId, range);
    const plan = await planClip(deps.index, dir, cameraId, range.from * 1000, range.to * 1000);
    if (!plan) throw new ApiError(404, 'no_recording', 'nothing is recorded between from and to');

    const headers: Record<string, string> = {
      'Content-Type': 'video/mp4',
      'Accept-Ranges': 'bytes',
      'Content-Disposition': `inline; filename="${cameraId}-${Math.floor(plan.startUs / 1000)}.mp4"`,
      // Where the clip really starts (the keyframe at or before `from`) and ends, epoch ms.
      'X-Clip-Start': String(Math.floor(plan.startUs / 1000)),
      'X-Clip-End': String(Math.ceil(plan.endUs / 1000)),
    };
    let start = 0;
    let end = plan.size;
    let status: 200 | 206 = 200;
    const requested = c.req.header('range');
    if (requested !== undefined) {
      const byteRange = parseRange(requested, plan.size);
      if (byteRange === 'unsatisfiable') {
        c.header('Content-Range', `bytes */${plan.size}`);
        throw new ApiError(416, 'range_not_satisfiable', `the clip has ${plan.size} bytes`);
      }
      if (byteRange) {
        ({ start, end } = byteRange);
        status = 206;
        headers['Content-Range'] = `bytes ${start}-${end - 1}/${plan.size}`;
      }
    }
    headers['Content-Length'] = String(end - start);
    if (c.req.method === 'HEAD') return c.body(null, status, headers);
    const chunks = clipBytes(plan, dir, start, end);
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        const next = await chunks.next();
        if (next.done) controller.close();
        else controller.enqueue(next.value);
      },
      async cancel() {
        await chunks.return(undefined);
      },
    });
    return c.body(body, status, headers);
  });

  app.post('/share/clip-token', async (c) => {
    const token = bearerToken(c);
    if (!token) throw new ApiError(401, 'token_invalid', 'share token required (Authorization: Bearer)');
    const { share } = await authenticateShare(deps, token);
    const clip = shareClip(share);
    if (!clip) throw new ApiError(400, 'bad_request', 'this link is for the live picture, not a clip');
    const now = deps.now();
    const expiresAt = Math.min(share.expiresAt, now + (clip.end - clip.start) + CLIP_TOKEN_MARGIN_MS);
    const clipToken = await signClipToken(deps.keys, { sub: share.cameraId, jti: share.id, issuedAt: now, expiresAt, clip });
    return c.json({ token: clipToken, expiresAt } satisfies ClipTokenResponse);
  });

  return app;
}

/**
 * One `bytes=` range (RFC 9110 14.1.2) -> [start, end); null when the header is not one we serve
 * ranges for (several ranges, other units): the whole clip is sent.
 */
function parseRange(header: string, size: number): { start: number; end: number } | null | 'unsatisfiable' {
  const match = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!match || (match[1] === '' && match[2] === '')) return null;
  if (match[1] === '') {
    const suffix = Number(match[2]);
    if (suffix === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - suffix), end: size };
  }
  const start = Number(match[1]);
  const last = match[2] === '' ? size - 1 : Math.min(Number(match[2]), size - 1);
  if (start >= size || last < start) return 'unsatisfiable';
  return { start, end: last + 1 };
}
