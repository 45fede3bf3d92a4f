import { z } from 'zod';

/**
 * Account input rules shared by the HTTP API and the CLI. Usernames are lower-cased (one account
 * per spelling; the per-username rate limit cannot be dodged with capitals). The password cap
 * keeps request bodies small; PICAM_ADMIN_PASSWORD has the same minimum (config.ts).
 */
export const usernameSchema = z
  .string()
  .trim()
  .toLowerCase()
  .regex(/^[a-z0-9][a-z0-9._-]{0,63}$/, 'username: 1-64 of a-z 0-9 . _ -, starting with a letter or digit');

export const newPasswordSchema = z.string().min(8, 'password: at least 8 characters').max(1024);

export const roleSchema = z.enum(['admin', 'viewer']);
