import { Hono, type Context } from 'hono';
import { z } from 'zod';
import * as zm from 'zod/mini';
import {
  DEFAULT_CAMERA_SETTINGS,
  RECORD_MODES,
  cameraSettingsSchema,
  type Camera,
  type CameraCreated,
  type CameraList,
  type CameraResponse,
  type CameraSettings,
  type EnrollmentResponse,
} from '@picam/protocol';
import { ApiError, cameraNotFound, forbidden } from '../errors.ts';
import { audit } from '../db/audit.ts';
import { transaction } from '../db/client.ts';
import {
  deleteCamera,
  findCamera,
  insertCamera,
  listCameras,
  parseSettings,
  setCredential,
  updateCamera,
  type CameraRow,
} from '../db/cameras.ts';
import { grantedCameraIds } from '../db/users.ts';
import type { AuthDeps } from '../auth/deps.ts';
import { issueEnrollment } from '../auth/device-credentials.ts';
import { randomId } from '../auth/ids.ts';
import { requireAdmin, requireSession, type ApiEnv } from '../auth/middleware.ts';
import { publicOrigin } from '../auth/origin.ts';
import { clientAddress, viaTrustedProxy } from '../client-address.ts';
import { canView } from '../auth/sessions.ts';
import type { LiveCameraStatus } from '../services.ts';
import { readJson } from './body.ts';

/** /api/cameras: the registry as the API shows it, with live status from the streaming side. */

const OFFLINE_STATUS: LiveCameraStatus = {
  online: false,
  viewers: 0,
  video: null,
  audio: null,
  bitrate: 0,
  framerate: 0,
  camera: null,
  agentVersion: null,
  connectedAt: null,
  lastFrameAt: null,
};

// Names are stored verbatim and only ever returned as JSON; the web app renders them as text.
const displayName = z
  .string()
  .max(100)
  .refine((s) => s.trim().length > 0, 'must not be blank');
// The protocol's schemas are zod/mini (small agent bundle): build the patch shape from them with mini.
const settingsPatch = zm.partial(zm.strictObject(cameraSettingsSchema.shape));
const createBody = z.object({ name: displayName, settings: z.optional(settingsPatch) }).strict();
const patchBody = z
  .object({ name: displayName.optional(), settings: z.optional(settingsPatch), record: z.enum(RECORD_MODES).nullable().optional() })
  .strict();

function mergeSettings(base: CameraSettings, patch: Partial<CameraSettings> | undefined): CameraSettings {
  const merged = cameraSettingsSchema.safeParse({ ...base, ...patch });
  if (!merged.success) throw new ApiError(400, 'validation_failed', 'settings: invalid combination');
  return merged.data;
}

function cameraJson(deps: AuthDeps, row: CameraRow): Camera {
  return {
    id: row.id,
    name: row.name,
    settings: parseSettings(row.settings),
    createdAt: row.createdAt,
    lastSeenAt: row.lastSeenAt,
    enrolled: row.credentialHash !== null,
    record: row.record ?? deps.config.recording.defaultMode,
    status: deps.live().status(row.id) ?? OFFLINE_STATUS,
  };
}

export function relayOrigin(c: Context, deps: AuthDeps): string {
  return publicOrigin(deps.config, c.req.url, (n) => c.req.header(n), viaTrustedProxy(c, deps.config.trustProxy));
}

export function cameraRoutes(deps: AuthDeps): Hono<ApiEnv> {
  const app = new Hono<ApiEnv>();
  const session = requireSession(deps);
  const admin = requireAdmin(deps);
  const address = (c: Context) => clientAddress(c, deps.config.trustProxy);

  async function existing(id: string): Promise<CameraRow> {
    const row = await findCamera(deps.db, id);
    if (!row) throw cameraNotFound();
    return row;
  }

  app.get('/cameras', session, async (c) => {
    const { user } = c.get('principal');
    const rows = user.role === 'admin' ? await listCameras(deps.db) : await listCameras(deps.db, await grantedCameraIds(deps.db, user.id));
    return c.json({ cameras: rows.map((r) => cameraJson(deps, r)) } satisfies CameraList);
  });

  app.post('/cameras', admin, async (c) => {
    const body = await readJson(c, createBody);
    const { user } = c.get('principal');
    const id = randomId(10);
    const settings = mergeSettings(DEFAULT_CAMERA_SETTINGS, body.settings);
    const origin = relayOrigin(c, deps);
    const enrollment = await transaction(deps.db, async (tx) => {
      await insertCamera(tx, { id, name: body.name, settings, createdAt: deps.now() });
      await audit(tx, deps.now(), { actor: user.id, action: 'camera.create', target: id, address: address(c) });
      await audit(tx, deps.now(), { actor: user.id, action: 'enrollment.issue', target: id, address: address(c) });
      return issueEnrollment(deps, id, user.id, origin, tx);
    });
    deps.recorder().setMode(id, deps.config.recording.defaultMode);
    return c.json({ camera: cameraJson(deps, await existing(id)), enrollment } satisfies CameraCreated, 201);
  });

  app.get('/cameras/:id', session, async (c) => {
    const row = await existing(c.req.param('id'));
    if (!(await canView(deps, c.get('principal').user, row.id))) throw forbidden('this camera is not shared with you');
    return c.json({ camera: cameraJson(deps, row) } satisfies CameraResponse);
  });

  app.patch('/cameras/:id', admin, async (c) => {
    const row = await existing(c.req.param('id'));
    const body = await readJson(c, patchBody);
    const settings = body.settings ? mergeSettings(parseSettings(row.settings), body.settings) : undefined;
    await updateCamera(deps.db, row.id, { name: body.name, settings, record: body.record });
    await audit(deps.db, deps.now(), {
      actor: c.get('principal').user.id,
      action: 'camera.update',
      target: row.id,
      address: address(c),
      detail: { name: body.name !== undefined, settings: settings !== undefined, record: body.record ?? null },
    });
    if (settings) deps.live().pushSettings(row.id, settings);
    if (body.record !== undefined) deps.recorder().setMode(row.id, body.record ?? deps.config.recording.defaultMode);
    return c.json({ camera: cameraJson(deps, await existing(row.id)) } satisfies CameraResponse);
  });

  app.delete('/cameras/:id', admin, async (c) => {
    const row = await existing(c.req.param('id'));
    await transaction(deps.db, async (tx) => {
      await deleteCamera(tx, row.id);
      await audit(tx, deps.now(), { actor: c.get('principal').user.id, action: 'camera.delete', target: row.id, address: address(c) });
    });
    deps.live().cameraDeleted(row.id);
    deps.recorder().cameraDeleted(row.id);
    return c.body(null, 204);
  });

  // Re-enrollment: the old credential stops working now, not when the new one is redeemed.
  app.post('/cameras/:id/enrollment', admin, async (c) => {
    const row = await existing(c.req.param('id'));
    const { user } = c.get('principal');
    const origin = relayOrigin(c, deps);
    const enrollment = await transaction(deps.db, async (tx) => {
      await setCredential(tx, row.id, null, deps.now());
      await audit(tx, deps.now(), { actor: user.id, action: 'enrollment.issue', target: row.id, address: address(c) });
      return issueEnrollment(deps, row.id, user.id, origin, tx);
    });
    deps.live().credentialRevoked(row.id);
    return c.json({ enrollment } satisfies EnrollmentResponse, 201);
  });

  return app;
}
