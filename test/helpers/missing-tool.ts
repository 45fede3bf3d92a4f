import type { TestContext } from 'node:test';

/**
 * A test that cannot run here because a tool (a browser, nats-server, Postgres) is not installed:
 * skipped with a loud message on a developer's machine, a failure when `CI` is set, so a green CI
 * run never hides tests that did not run.
 */
export function skipForMissingTool(t: TestContext, message: string): void {
  if (process.env.CI) throw new Error(`${message}. CI is set, so this is a failure.`);
  process.stderr.write(`\n${'!'.repeat(100)}\n!! ${message}\n${'!'.repeat(100)}\n\n`);
  t.skip(message);
}
