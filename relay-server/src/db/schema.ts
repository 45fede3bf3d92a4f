import { sqliteTable, text, integer, primaryKey, index } from 'drizzle-orm/sqlite-core';

/**
 * Tables only (drizzle convention): SQL names snake_case, TS names camelCase.
 * Times are integer milliseconds since the Unix epoch. Secrets are never stored: only SHA-256
 * hashes of tokens and credentials, and scrypt hashes of passwords.
 * The registry's tables have a Postgres twin in pg-schema.ts (same names and shapes): edit both,
 * then run `npm run db:generate` and commit the new files in migrations/ and migrations/postgres/.
 */

export const users = sqliteTable('users', {
  id: text('id').primaryKey(),
  username: text('username').notNull().unique(),
  /** scrypt$N$r$p$salt$hash (base64url) */
  passwordHash: text('password_hash').notNull(),
  role: text('role', { enum: ['admin', 'viewer'] }).notNull(),
  createdAt: integer('created_at').notNull(),
  passwordChangedAt: integer('password_changed_at').notNull(),
});

/** Cameras a `viewer` user may see (admins see all). */
export const userCameras = sqliteTable(
  'user_cameras',
  {
    userId: text('user_id').notNull().references(() => users.id, { onDelete: 'cascade' }),
    cameraId: text('camera_id').notNull().references(() => cameras.id, { onDelete: 'cascade' }),
  },
  (t) => [primaryKey({ columns: [t.userId, t.cameraId] })],
);

/** One row per issued session JWT (its jti): logout and password change revoke it here. */
export const sessions = sqliteTable(
  'sessions',
  {
    id: text('id').primaryKey(),
    userId: text('user_id').notNull().references(() => users.id, { onDelete: 'cascade' }),
    createdAt: integer('created_at').notNull(),
    expiresAt: integer('expires_at').notNull(),
    revokedAt: integer('revoked_at'),
    userAgent: text('user_agent'),
    address: text('address'),
  },
  (t) => [index('sessions_user_idx').on(t.userId)],
);

export const cameras = sqliteTable('cameras', {
  id: text('id').primaryKey(),
  name: text('name').notNull(),
  /** JSON of protocol's CameraSettings: the settings the relay wants the agent to use */
  settings: text('settings').notNull(),
  createdAt: integer('created_at').notNull(),
  lastSeenAt: integer('last_seen_at'),
  /** SHA-256 (hex) of the device credential; null until enrolled or after revocation */
  credentialHash: text('credential_hash').unique(),
  credentialIssuedAt: integer('credential_issued_at'),
  /** protocol's RecordMode; null: the relay's RECORD_DEFAULT */
  record: text('record', { enum: ['off', 'continuous'] }),
});

export const enrollmentTokens = sqliteTable(
  'enrollment_tokens',
  {
    id: text('id').primaryKey(),
    cameraId: text('camera_id').notNull().references(() => cameras.id, { onDelete: 'cascade' }),
    tokenHash: text('token_hash').notNull().unique(),
    createdAt: integer('created_at').notNull(),
    expiresAt: integer('expires_at').notNull(),
    usedAt: integer('used_at'),
    createdBy: text('created_by'),
  },
  (t) => [index('enrollment_tokens_camera_idx').on(t.cameraId)],
);

/** One row per share link (its JWT's jti): revocation and listing live here. */
export const shares = sqliteTable(
  'shares',
  {
    id: text('id').primaryKey(),
    cameraId: text('camera_id').notNull().references(() => cameras.id, { onDelete: 'cascade' }),
    label: text('label').notNull(),
    createdBy: text('created_by'),
    createdAt: integer('created_at').notNull(),
    expiresAt: integer('expires_at').notNull(),
    revokedAt: integer('revoked_at'),
    maxViewers: integer('max_viewers'),
    /** a clip link (recorded capture time, epoch ms) instead of live; both null for live */
    clipStart: integer('clip_start'),
    clipEnd: integer('clip_end'),
  },
  (t) => [index('shares_camera_idx').on(t.cameraId)],
);

/**
 * Which relay node holds a camera's agent (cluster mode only, docs/ARCHITECTURE.md): the node
 * that took it last, with an epoch raised at every take-over so a stale owner knows it is stale.
 */
export const cameraOwners = sqliteTable('camera_owners', {
  cameraId: text('camera_id').primaryKey().references(() => cameras.id, { onDelete: 'cascade' }),
  nodeId: text('node_id').notNull(),
  epoch: integer('epoch').notNull(),
  claimedAt: integer('claimed_at').notNull(),
});

/**
 * One fragmented-MP4 file of a camera's recording (recording/segment-writer.ts), indexed as it is
 * written: a row when the file is opened, its end and size moved on with each fragment. Capture
 * times here are microseconds (the frames' own clock), not milliseconds.
 */
export const recordingSegments = sqliteTable(
  'recording_segments',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    cameraId: text('camera_id').notNull().references(() => cameras.id, { onDelete: 'cascade' }),
    /** relative to RECORDINGS_DIR */
    path: text('path').notNull().unique(),
    startUs: integer('start_us').notNull(),
    /** end of the last indexed fragment (its last sample's end) */
    endUs: integer('end_us').notNull(),
    /** file bytes up to the end of the last indexed fragment (init segment included) */
    bytes: integer('bytes').notNull(),
    /** bytes of the init segment (ftyp + moov) at the start of the file */
    initBytes: integer('init_bytes').notNull(),
    /** written from frames the agent kept while its link was down, not from the live stream */
    backfill: integer('backfill', { mode: 'boolean' }).notNull(),
  },
  (t) => [index('recording_segments_camera_start_idx').on(t.cameraId, t.startUs), index('recording_segments_start_idx').on(t.startUs)],
);

/** One moof + mdat of a segment file, so a clip is cut and served without reading the disk to find it. */
export const recordingFragments = sqliteTable(
  'recording_fragments',
  {
    segmentId: integer('segment_id')
      .notNull()
      .references(() => recordingSegments.id, { onDelete: 'cascade' }),
    cameraId: text('camera_id').notNull(),
    startUs: integer('start_us').notNull(),
    endUs: integer('end_us').notNull(),
    /** byte offset of the moof in the segment file, and the length of moof + mdat */
    offset: integer('offset').notNull(),
    length: integer('length').notNull(),
    /** its first video sample is a keyframe: a clip may start here */
    keyframe: integer('keyframe', { mode: 'boolean' }).notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.segmentId, t.offset] }),
    index('recording_fragments_camera_start_idx').on(t.cameraId, t.startUs),
  ],
);

export const auditLog = sqliteTable(
  'audit_log',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    at: integer('at').notNull(),
    /** user id, `device:<cameraId>`, `share:<id>` or `system` */
    actor: text('actor').notNull(),
    action: text('action').notNull(),
    target: text('target'),
    address: text('address'),
    /** JSON, never secrets */
    detail: text('detail'),
  },
  (t) => [index('audit_log_at_idx').on(t.at)],
);
