import type { Context } from 'hono';
import type { z } from 'zod';
import { ApiError } from '../errors.ts';

/**
 * Parses and validates a JSON body. Size is capped earlier (body limit in api.ts); here a
 * malformed body is 400 bad_request and a well-formed but wrong one 400 validation_failed,
 * naming the fields (never echoing their values, which may be passwords).
 */
export async function readJson<S extends z.ZodType>(c: Context, schema: S): Promise<z.infer<S>> {
  let body: unknown;
  try {
    const text = await c.req.text();
    body = text.trim() === '' ? {} : JSON.parse(text);
  } catch (err) {
    if (err instanceof ApiError) throw err;
    throw new ApiError(400, 'bad_request', 'request body is not valid JSON');
  }
  const result = schema.safeParse(body);
  if (!result.success) {
    const fields = result.error.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`);
    throw new ApiError(400, 'validation_failed', fields.join('; '));
  }
  return result.data;
}
