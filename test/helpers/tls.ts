import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A throw-away self-signed certificate for 127.0.0.1 and localhost (EC P-256, 2 days), made with the
 * openssl command line in a temp dir, for putting nginx/Caddy in front of a relay on loopback.
 * Clients trust it by name: `ca: cert.pem` for `ws`/`https`, NODE_EXTRA_CA_CERTS=certPath for a
 * child process (the agent).
 */
export interface SelfSignedCert {
  dir: string;
  certPath: string;
  keyPath: string;
  /** the certificate (PEM), to pass as `ca` */
  pem: Buffer;
  remove(): void;
}

export function createSelfSignedCert(): SelfSignedCert {
  const dir = mkdtempSync(join(tmpdir(), 'picam-tls-'));
  const certPath = join(dir, 'cert.pem');
  const keyPath = join(dir, 'key.pem');
  // prettier-ignore
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', keyPath, '-out', certPath, '-days', '2',
    '-subj', '/CN=localhost',
    '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1',
  ], { stdio: ['ignore', 'ignore', 'pipe'] });
  return {
    dir,
    certPath,
    keyPath,
    pem: readFileSync(certPath),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
