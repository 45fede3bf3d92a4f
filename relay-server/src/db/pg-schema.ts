import { bigint, bigserial, index, pgTable, primaryKey, text } from 'drizzle-orm/pg-core';

/**
 * The registry's tables for Postgres (DATABASE_URL): the same tables, columns and TypeScript shapes
 * as schema.ts, which the query helpers are written against (db/client.ts). Times are milliseconds
 * since the Unix epoch in bigint columns read as numbers (they stay far below 2^53).
 * The recording index is not here: it stays in each node's own SQLite, beside its files.
 * After editing (both files), run `npm run db:generate` and commit the new migration files.
 */

const ms = (name: string) => bigint(name, { mode: 'number' });

export const users = pgTable('users', {
  id: text('id').primaryKey(),
  username: text('username').notNull().unique(),
  /** scrypt$N$r$p$salt$hash (base64url) */
  passwordHash: text('password_hash').notNull(),
  role: text('role', { enum: ['admin', 'viewer'] }).notNull(),
  createdAt: ms('created_at').notNull(),
  passwordChangedAt: ms('password_changed_at').notNull(),
});

/** Cameras a `viewer` user may see (admins see all). */
export const userCameras = pgTable(
  'user_cameras',
  {
    userId: text('user_id').notNull().references(() => users.id, { onDelete: 'cascade' }),
    cameraId: text('camera_id').notNull().references(() => cameras.id, { onDelete: 'cascade' }),
  },
  (t) => [primaryKey({ columns: [t.userId, t.cameraId] })],
);

/** One row per issued session JWT (its jti): logout and password change revoke it here. */
export const sessions = pgTable(
  'sessions',
  {
    id: text('id').primaryKey(),
    userId: text('user_id').notNull().references(() => users.id, { onDelete: 'cascade' }),
    createdAt: ms('created_at').notNull(),
    expiresAt: ms('expires_at').notNull(),
    revokedAt: ms('revoked_at'),
    userAgent: text('user_agent'),
    address: text('address'),
  },
  (t) => [index('sessions_user_idx').on(t.userId)],
);

export const cameras = pgTable('cameras', {
  id: text('id').primaryKey(),
  name: text('name').notNull(),
  /** JSON of protocol's CameraSettings: the settings the relay wants the agent to use */
  settings: text('settings').notNull(),
  createdAt: ms('created_at').notNull(),
  lastSeenAt: ms('last_seen_at'),
  /** SHA-256 (hex) of the device credential; null until enrolled or after revocation */
  credentialHash: text('credential_hash').unique(),
  credentialIssuedAt: ms('credential_issued_at'),
  /** protocol's RecordMode; null: the relay's RECORD_DEFAULT */
  record: text('record', { enum: ['off', 'continuous'] }),
});

export const enrollmentTokens = pgTable(
  'enrollment_tokens',
  {
    id: text('id').primaryKey(),
    cameraId: text('camera_id').notNull().references(() => cameras.id, { onDelete: 'cascade' }),
    tokenHash: text('token_hash').notNull().unique(),
    createdAt: ms('created_at').notNull(),
    expiresAt: ms('expires_at').notNull(),
    usedAt: ms('used_at'),
    createdBy: text('created_by'),
  },
  (t) => [index('enrollment_tokens_camera_idx').on(t.cameraId)],
);

/** One row per share link (its JWT's jti): revocation and listing live here. */
export const shares = pgTable(
  'shares',
  {
    id: text('id').primaryKey(),
    cameraId: text('camera_id').notNull().references(() => cameras.id, { onDelete: 'cascade' }),
    label: text('label').notNull(),
    createdBy: text('created_by'),
    createdAt: ms('created_at').notNull(),
    expiresAt: ms('expires_at').notNull(),
    revokedAt: ms('revoked_at'),
    maxViewers: bigint('max_viewers', { mode: 'number' }),
    /** a clip link (recorded capture time, epoch ms) instead of live; both null for live */
    clipStart: ms('clip_start'),
    clipEnd: ms('clip_end'),
  },
  (t) => [index('shares_camera_idx').on(t.cameraId)],
);

/**
 * See schema.ts: which node holds a camera's agent, and the epoch of that take-over (cluster mode;
 * cluster/ownership.ts queries it with SQL of its own on the pool).
 * @public
 */
export const cameraOwners = pgTable('camera_owners', {
  cameraId: text('camera_id').primaryKey().references(() => cameras.id, { onDelete: 'cascade' }),
  nodeId: text('node_id').notNull(),
  epoch: bigint('epoch', { mode: 'number' }).notNull(),
  claimedAt: ms('claimed_at').notNull(),
});

export const auditLog = pgTable(
  'audit_log',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    at: ms('at').notNull(),
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

/**
 * Ed25519 signing keys shared by every node (auth/jwt-keys.ts); with SQLite they are files in
 * DATA_DIR/keys. The newest signs, every row verifies; `keys remove` deletes the row.
 */
export const signingKeys = pgTable('signing_keys', {
  kid: text('kid').primaryKey(),
  /** the private JWK (JSON), as the key file would hold it */
  jwk: text('jwk').notNull(),
  createdAt: ms('created_at').notNull(),
});
