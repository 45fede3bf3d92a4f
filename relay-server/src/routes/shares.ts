import { Hono } from 'hono';
import { MAX_CLIP_MS, type Share, type ShareCreated, type ShareList, type ShareLookup } from '@picam/protocol';
import { z } from 'zod';
import { ApiError, cameraNotFound, notFound } from '../errors.ts';
import { audit } from '../db/audit.ts';
import { findCamera } from '../db/cameras.ts';
import { findShare, listShares, revokeShare, shareClip, shareState, type ShareRow } from '../db/shares.ts';
import type { AuthDeps } from '../auth/deps.ts';
import { bearerToken, requireAdmin, type ApiEnv } from '../auth/middleware.ts';
import { clientAddress } from '../client-address.ts';
import { MAX_SHARE_LIFETIME_SECONDS } from '../auth/jwt.ts';
import { authenticateShare, createShare } from '../auth/share-links.ts';
import { readJson } from './body.ts';
import { relayOrigin } from './cameras.ts';

/** Share links: create/list per camera, revoke, and the no-login viewer page's own lookup. */

const DEFAULT_SHARE_SECONDS = 24 * 3600;

const createBody = z
  .object({
    // Seconds. Very short links are allowed on purpose: they make expiry easy to demonstrate and test.
    expiresIn: z.number().int().min(1).max(MAX_SHARE_LIFETIME_SECONDS).optional(),
    expiresAt: z.number().int().positive().optional(),
    label: z.string().max(200).optional(),
    maxViewers: z.number().int().min(1).max(10_000).nullable().optional(),
    clip: z
      .object({ start: z.number().int().nonnegative(), end: z.number().int().positive() })
      .strict()
      .refine((r) => r.end > r.start, 'clip: end must be after start')
      .refine((r) => r.end - r.start <= MAX_CLIP_MS, `clip: at most ${MAX_CLIP_MS / 60000} minutes`)
      .optional(),
  })
  .strict()
  .refine((b) => b.expiresIn === undefined || b.expiresAt === undefined, 'give expiresIn or expiresAt, not both');

function shareJson(deps: AuthDeps, row: ShareRow): Share {
  return {
    id: row.id,
    cameraId: row.cameraId,
    label: row.label,
    createdAt: row.createdAt,
    expiresAt: row.expiresAt,
    revokedAt: row.revokedAt,
    maxViewers: row.maxViewers,
    viewers: deps.live().viewersOfGrant(row.id),
    state: shareState(row, deps.now()),
    clip: shareClip(row),
  };
}

export function shareRoutes(deps: AuthDeps): Hono<ApiEnv> {
  const app = new Hono<ApiEnv>();
  const admin = requireAdmin(deps);

  app.post('/cameras/:id/shares', admin, async (c) => {
    const camera = await findCamera(deps.db, c.req.param('id'));
    if (!camera) throw cameraNotFound();
    const body = await readJson(c, createBody);
    const now = deps.now();
    const expiresAt = body.expiresAt ?? now + (body.expiresIn ?? DEFAULT_SHARE_SECONDS) * 1000;
    if (expiresAt <= now || expiresAt > now + MAX_SHARE_LIFETIME_SECONDS * 1000) {
      throw new ApiError(400, 'validation_failed', 'expiresAt: must be in the future and at most 30 days away');
    }
    const { user } = c.get('principal');
    const issued = await createShare(
      deps,
      camera.id,
      { expiresAt, label: body.label ?? '', maxViewers: body.maxViewers ?? null, clip: body.clip ?? null },
      user.id,
      relayOrigin(c, deps),
    );
    await audit(deps.db, now, {
      actor: user.id,
      action: 'share.create',
      target: issued.share.id,
      address: clientAddress(c, deps.config.trustProxy),
      detail: { cameraId: camera.id, expiresAt, clipStart: body.clip?.start ?? null, clipEnd: body.clip?.end ?? null },
    });
    return c.json({ share: shareJson(deps, issued.share), token: issued.token, url: issued.url } satisfies ShareCreated, 201);
  });

  app.get('/cameras/:id/shares', admin, async (c) => {
    const camera = await findCamera(deps.db, c.req.param('id'));
    if (!camera) throw cameraNotFound();
    return c.json({ shares: (await listShares(deps.db, camera.id)).map((s) => shareJson(deps, s)) } satisfies ShareList);
  });

  app.delete('/shares/:id', admin, async (c) => {
    const share = await findShare(deps.db, c.req.param('id'));
    if (!share) throw notFound('no such share');
    if (await revokeShare(deps.db, share.id, deps.now())) {
      await audit(deps.db, deps.now(), {
        actor: c.get('principal').user.id,
        action: 'share.revoke',
        target: share.id,
        address: clientAddress(c, deps.config.trustProxy),
        detail: { cameraId: share.cameraId },
      });
    }
    // Idempotent, and always tell the live side: it cuts any viewer still on this link.
    deps.live().grantRevoked(share.id);
    return c.body(null, 204);
  });

  app.get('/share', async (c) => {
    const token = bearerToken(c);
    if (!token) throw new ApiError(401, 'token_invalid', 'share token required (Authorization: Bearer)');
    const { share, camera } = await authenticateShare(deps, token);
    return c.json({
      share: { id: share.id, label: share.label, expiresAt: share.expiresAt, clip: shareClip(share) },
      camera: { id: camera.id, name: camera.name },
    } satisfies ShareLookup);
  });

  return app;
}
