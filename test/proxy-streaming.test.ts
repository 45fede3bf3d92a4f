import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import { AgentProcess, TEST_TUNING, cleanAgentEnv } from './helpers/agent-process.ts';
import { envWithFakeCamera } from './helpers/fake-camera-path.ts';
import {
  INFRA_DIR,
  LiveViewer,
  REPO_ROOT,
  RelayChild,
  adminLogin,
  commandExists,
  createCamera,
  httpJson,
  startCaddy,
  startNginx,
  type RunningProxy,
} from './helpers/proxies.ts';
import { METRICS_TOKEN } from './helpers/relay-process.ts';
import { createSelfSignedCert, type SelfSignedCert } from './helpers/tls.ts';

/**
 * The shipped reverse-proxy configs (infra/nginx, infra/caddy) in front of a real relay, all on
 * 127.0.0.1 with a self-signed certificate: the agent enrolls and streams over https:// and wss://
 * through the proxy, viewers watch through it (token subprotocol, ?token=, and cookie + Origin),
 * login works and yields a Secure cookie (X-Forwarded-Proto reached the relay), plain HTTP is
 * redirected, /metrics is not exposed, and no token reaches the proxy's access log.
 */

const IN_CI = process.env.CI === 'true' || process.env.CI === '1';
const AGENT_BUNDLE = join(REPO_ROOT, 'edge-agent/dist/picam-agent.mjs');

for (const kind of ['nginx', 'caddy'] as const) {
  describe(`behind ${kind}`, { skip: !commandExists(kind) && !IN_CI ? `${kind} not installed` : false }, () => {
    let cert: SelfSignedCert;
    let relay: RelayChild;
    let proxy: RunningProxy;
    let adminToken: string;
    let camera: { id: string; enrollmentToken: string };
    let configDir: string;
    let agent: AgentProcess | undefined;
    const viewers: LiveViewer[] = [];

    before(async () => {
      cert = createSelfSignedCert();
      relay = await RelayChild.start({ env: { TRUST_PROXY: 'true' } });
      proxy = kind === 'nginx' ? await startNginx({ relayPort: relay.port, cert }) : await startCaddy({ relayPort: relay.port, cert });
      configDir = mkdtempSync(join(tmpdir(), `picam-agent-${kind}-`));
    });
    after(async () => {
      await Promise.all(viewers.map((v) => v.stop()));
      await agent?.stop('SIGTERM');
      await proxy?.stop();
      await relay?.stop();
      relay?.removeData();
      cert?.remove();
      rmSync(configDir, { recursive: true, force: true });
    });

    it('HTTPS: health answers, /metrics is hidden, plain HTTP redirects to HTTPS', async () => {
      const health = await httpJson('GET', `${proxy.httpsUrl}/healthz`, { ca: cert.pem });
      assert.equal(health.status, 200, health.text);
      assert.equal(health.json.status, 'ok');
      const metrics = await httpJson('GET', `${proxy.httpsUrl}/metrics`, { ca: cert.pem });
      assert.equal(metrics.status, 404);
      const direct = await httpJson('GET', `${relay.url}/metrics`);
      assert.equal(direct.status, 404, 'not on the relay port without the token either');
      const scraper = await httpJson('GET', `${relay.url}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
      assert.equal(scraper.status, 200, 'the scraper presents METRICS_TOKEN');

      const redirect = await httpJson('GET', `http://127.0.0.1:${proxy.httpPort}/cameras/x?view=1`);
      assert.ok([301, 308].includes(redirect.status), `status ${redirect.status}`);
      const location = new URL(String(redirect.headers.location));
      assert.equal(location.protocol, 'https:');
      assert.equal(location.hostname, '127.0.0.1');
      assert.equal(`${location.pathname}${location.search}`, '/cameras/x?view=1');
      // nginx's snippet names the HTTPS port; Caddy assumes its https_port is the standard 443 in redirects.
      if (kind === 'nginx') assert.equal(location.port, String(proxy.httpsPort));
    });

    it('login through the proxy: a Secure HttpOnly cookie (X-Forwarded-Proto arrived) and a Bearer token', async () => {
      const login = await httpJson('POST', `${proxy.httpsUrl}/api/auth/login`, { body: { username: 'admin', password: 'proxy-test-password' }, ca: cert.pem });
      assert.equal(login.status, 200, login.text);
      const cookie = String(login.headers['set-cookie']?.[0]);
      assert.match(cookie, /^picam_session=/);
      assert.match(cookie, /; Secure/i);
      assert.match(cookie, /; HttpOnly/i);
      adminToken = await adminLogin(proxy.httpsUrl, cert.pem);
      const me = await httpJson('GET', `${proxy.httpsUrl}/api/auth/me`, { headers: { authorization: `Bearer ${adminToken}` }, ca: cert.pem });
      assert.equal(me.status, 200);
      assert.equal(me.json.user.username, 'admin');
      camera = await createCamera(proxy.httpsUrl, adminToken, `garden via ${kind}`, cert.pem);
    });

    it('the agent enrolls over https:// and streams over wss:// through the proxy; a viewer gets init and frames', async () => {
      assert.ok(camera, 'camera created by the previous test');
      const config = join(configDir, kind === 'nginx' ? 'etc/picam-agent/config.json' : 'config.json');
      const env = cleanAgentEnv(envWithFakeCamera({ NODE_EXTRA_CA_CERTS: cert.certPath }));
      if (kind === 'nginx' && existsSync(AGENT_BUNDLE)) {
        // The Pi's way: install-agent.sh with the single-file bundle enrolls (files under --prefix).
        const install = spawnSync('bash', [join(INFRA_DIR, 'install-agent.sh'), '--prefix', configDir, '--relay', proxy.httpsUrl, '--token', camera.enrollmentToken, '--agent-file', AGENT_BUNDLE], {
          env,
          encoding: 'utf8',
          timeout: 60_000,
        });
        assert.equal(install.status, 0, `${install.stdout}${install.stderr}`);
        assert.match(install.stdout, /Enrolled as camera "garden via nginx"/);
        assert.ok(!`${install.stdout}${install.stderr}`.includes(camera.enrollmentToken), 'the token is not echoed');
      } else {
        if (kind === 'nginx') {
          assert.ok(!IN_CI, 'CI builds the agent bundle before the tests (npm run build)');
          process.stderr.write('\n*** edge-agent/dist/picam-agent.mjs not built: enrolling with the sources instead of install-agent.sh ***\n');
        }
        const enroll = new AgentProcess(['enroll', '--relay', proxy.httpsUrl, '--token', camera.enrollmentToken, '--config', config], env);
        const exit = await enroll.exited;
        assert.equal(exit.code, 0, enroll.stderr.join('\n'));
      }
      const saved = JSON.parse(readFileSync(config, 'utf8')) as { relay: string; cameraId: string };
      assert.equal(saved.cameraId, camera.id);
      assert.equal(saved.relay, proxy.httpsUrl);

      agent = new AgentProcess(['run', '--config', config, '--tuning', TEST_TUNING], env);
      const viewer = new LiveViewer({ baseUrl: proxy.wssUrl, cameraId: camera.id, token: adminToken, ca: cert.pem }).start();
      viewers.push(viewer);
      await viewer.waitFor(() => viewer.inits >= 1 && viewer.frames >= 60, 30_000, 'init and 60 frames through the proxy');
      assert.equal(viewer.firstFrameKeyframe[0], true, 'the first frame is a keyframe');
      assert.equal(viewer.connections, 1);
      assert.deepEqual(viewer.closes, []);
      const health = await httpJson('GET', `${relay.url}/healthz`);
      assert.equal(health.json.cameras, 1);
    });

    it('cookie + Origin viewer: own origin accepted (Host forwarded), a foreign origin refused', async () => {
      const login = await httpJson('POST', `${proxy.httpsUrl}/api/auth/login`, { body: { username: 'admin', password: 'proxy-test-password' }, ca: cert.pem });
      const cookie = String(login.headers['set-cookie']?.[0]).split(';')[0]!;
      const url = `${proxy.wssUrl}/api/cameras/${camera.id}/live`;
      const own = new WebSocket(url, ['picam.v1'], { ca: cert.pem, headers: { cookie, origin: proxy.httpsUrl } });
      const init = await new Promise<{ type: string }>((resolve, reject) => {
        own.on('message', (data, isBinary) => {
          if (!isBinary) resolve(JSON.parse(data.toString()) as { type: string });
        });
        own.once('unexpected-response', (_req, res) => reject(new Error(`refused ${res.statusCode}`)));
        own.once('error', reject);
      });
      assert.ok(['init', 'state'].includes(init.type), JSON.stringify(init));
      own.terminate();

      const foreign = new WebSocket(url, ['picam.v1'], { ca: cert.pem, headers: { cookie, origin: 'https://evil.example' } });
      const status = await new Promise<number>((resolve) => {
        foreign.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
        foreign.once('open', () => resolve(101));
        foreign.once('error', () => {});
      });
      foreign.terminate();
      assert.equal(status, 403);
    });

    it('a ?token= viewer works, and the access log has its path but never its token', async () => {
      const url = `${proxy.wssUrl}/api/cameras/${camera.id}/live?token=${encodeURIComponent(adminToken)}`;
      const ws = new WebSocket(url, { ca: cert.pem });
      let frames = 0;
      await new Promise<void>((resolve, reject) => {
        ws.on('message', (_d, isBinary) => {
          if (isBinary && ++frames >= 5) resolve();
        });
        ws.once('unexpected-response', (_req, res) => reject(new Error(`refused ${res.statusCode}`)));
        ws.once('error', reject);
      });
      await new Promise<void>((resolve) => {
        ws.once('close', () => resolve());
        ws.close(1000);
      });
      // Proxies log a WebSocket request when it ends: wait for that line (bounded), then read.
      const livePath = `/api/cameras/${camera.id}/live`;
      const deadline = Date.now() + 10_000;
      let log = '';
      while (Date.now() < deadline) {
        log = existsSync(proxy.accessLogPath) ? readFileSync(proxy.accessLogPath, 'utf8') : '';
        if (log.split('\n').filter((l) => l.includes(livePath)).length >= 1 && /REDACTED|live HTTP\/1\.1" 101/.test(log)) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.ok(log.includes(livePath), `access log has the live path:\n${log}`);
      assert.ok(!log.includes(adminToken), 'session token in the access log');
      assert.ok(!log.includes(camera.enrollmentToken), 'enrollment token in the access log');
      const tokenPart = adminToken.split('.')[2]!;
      assert.ok(!log.includes(tokenPart), 'token signature in the access log');
      assert.ok(!/picam\.token\./.test(log), 'subprotocol token in the access log');
    });
  });
}
