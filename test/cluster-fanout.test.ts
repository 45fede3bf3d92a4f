import assert from 'node:assert/strict';
import { test } from 'node:test';
import { sequenceDistance } from '@picam/protocol';
import { natsOrSkip } from './helpers/nats.ts';
import { postgresOrSkip } from './helpers/postgres.ts';
import { startRelayProcess, type RelayProcess } from './helpers/relay-process.ts';
import { ScriptedAgent } from './helpers/scripted-agent.ts';
import { WsViewer } from './helpers/ws-viewer.ts';

/**
 * Many viewers on both sides of a cluster link: 40 on the owner node and 40 on another (both past
 * the relay's encode-once threshold of 32), a scripted agent sending a known clip. Every viewer on
 * either node gets every frame the agent sent, byte-identical, in order, once; the frames cross NATS
 * once each, whatever the number of viewers on the other node.
 */

const VIEWERS = 40;
const FRAMES = 150;

test('40 viewers on the owner and 40 on another node each get every frame, once', { timeout: 90_000 }, async (t) => {
  const nats = await natsOrSkip(t);
  if (!nats) return;
  const pg = await postgresOrSkip(t);
  if (!pg) return;
  const databaseUrl = await pg.createDatabase();
  const relays: RelayProcess[] = [];
  t.after(async () => {
    await Promise.all(relays.map((r) => r.stop()));
  });
  const node = (id: string) => ({ DATABASE_URL: databaseUrl, NATS_URL: nats.url, NODE_ID: id });
  relays.push(await startRelayProcess(node('owner')));
  relays.push(await startRelayProcess(node('edge')));
  const [owner, edge] = relays as [RelayProcess, RelayProcess];

  const camera = await owner.createCamera('fan-out');
  const agent = await ScriptedAgent.connect(owner.wsUrl, camera.credential);
  t.after(() => agent.close());
  await agent.waitFor((m) => m.type === 'demand');
  // The GOP cache holds something for the edge's first viewer to start from.
  await agent.play(10, 60);

  // They ack like the player: the idle second between the catch-up and the first live frame is a
  // pause in the stream, not lag, so nobody is skipped to a later keyframe.
  const local = await Promise.all(Array.from({ length: VIEWERS }, () => WsViewer.connect(owner.wsUrl, camera.id, owner.adminToken)));
  const remote = await Promise.all(Array.from({ length: VIEWERS }, () => WsViewer.connect(edge.wsUrl, camera.id, edge.adminToken)));
  // Every viewer started (the edge's from the GOP it asked the owner for) and the agent counts all 80.
  await Promise.all([...local, ...remote].map((v) => v.untilVideoFrames(1, 10_000)));
  await agent.waitFor((m) => m.type === 'demand' && m.viewers === 2 * VIEWERS, 10_000);
  const inBefore = (await edge.metric('picam_cluster_media_messages_total', { direction: 'in' })) ?? 0;

  const firstLive = agent.sent.length;
  await agent.play(FRAMES, 30);
  const last = agent.sent.length - 1;
  const wanted = agent.sent.slice(firstLive);
  const check = (viewer: WsViewer, label: string) => {
    const frames = viewer.videoFrames();
    // What the viewer got from the first frame sent after all had joined (its catch-up came before).
    const tail = frames.slice(frames.length - wanted.length);
    assert.equal(tail.length, wanted.length, `${label}: frame count`);
    tail.forEach((f, i) => {
      assert.ok(Buffer.from(wanted[i]!.payload).equals(f.payload), `${label}: frame ${i} identical`);
      assert.equal(f.header.catchUp, false, `${label}: frame ${i} live`);
    });
    for (let i = 1; i < frames.length; i++) assert.equal(sequenceDistance(frames[i - 1]!.header.sequence, frames[i]!.header.sequence), 1, `${label}: sequence at ${i}`);
  };
  const lastPayload = Buffer.from(agent.sent[last]!.payload);
  const reached = await Promise.allSettled(
    [...local, ...remote].map((v) => v.until((x) => x.videoFrames().at(-1)?.payload.equals(lastPayload) === true, 15_000, 'the last frame')),
  );
  const late = reached.flatMap((r, i) => (r.status === 'rejected' ? [`${i < VIEWERS ? 'owner' : 'edge'} viewer ${i % VIEWERS}: ${String(r.reason).slice(0, 120)}`] : []));
  assert.deepEqual(late, [], 'every viewer got the last frame');
  local.forEach((v, i) => check(v, `owner viewer ${i}`));
  remote.forEach((v, i) => check(v, `edge viewer ${i}`));
  const crossed = ((await edge.metric('picam_cluster_media_messages_total', { direction: 'in' })) ?? 0) - inBefore;
  t.diagnostic(`${FRAMES} frames played, ${crossed} media messages reached the edge node for its ${VIEWERS} viewers`);
  assert.equal(crossed, FRAMES, 'each frame crossed to the edge once');
  await Promise.all([...local, ...remote].map((v) => v.close()));
});
