import type { WebSocket } from 'ws';
import {
  CloseCode,
  Track,
  closeReason,
  encodeMessage,
  sameSettings,
  type BackfillDoneMessage,
  type CameraSettings,
  type HelloMessage,
  type SpsVideoFormat,
} from '@picam/protocol';
import type { Logger } from '../logger.ts';
import type { RelayMetrics } from '../metrics.ts';
import { isDatabaseUnavailable } from '../db/availability.ts';
import type { AccessControl, CameraRegistry } from '../services.ts';
import type { BackfillTarget } from '../recording/backfill-target.ts';
import type { HubFrame } from '../streams/frame.ts';
import type { StreamHub } from '../streams/hub.ts';
import { AgentViolation, ingestFrame, ingestText, rejectionOf } from './agent-ingest.ts';
import { BackfillRun } from './backfill-run.ts';
import type { ConnectionRegistry, AgentHandle } from './connection-registry.ts';
import type { SocketLease } from './socket-limits.ts';

/**
 * One agent connection (already authenticated by the upgrade handler): it takes over the camera's
 * stream (closing an older connection with 4009), validates every message, and forwards frames to
 * the hub. A misbehaving agent is closed with a code saying why; nothing else is touched.
 *
 * The credential and the camera are read again at `hello` (the credential may have been revoked
 * while the socket waited, by another process too) and the credential by the periodic sweep; until
 * that answer the socket is registered as waiting, so revocation and deletion close it as well as
 * the live agent. The registry answers asynchronously (it may be Postgres): messages arriving
 * meanwhile are held and handled in order after it.
 *
 * Backfill: when the camera records, the first live keyframe after `hello` tells how far the hole
 * in the recording goes (the recorder knows where it stops); the agent is asked for what it kept
 * in between. Frames flagged backfill go to the recorder only (BackfillTarget): never to the
 * stream, its viewers or its GOP cache, and only inside the range asked for (backfill-run.ts).
 */

export interface AgentDeps {
  hub: StreamHub;
  registry: CameraRegistry;
  access: AccessControl;
  connections: ConnectionRegistry;
  metrics: RelayMetrics;
  log: Logger;
  /** an agent that has not said hello by then is not an agent (AGENT_HELLO_TIMEOUT) */
  helloTimeoutMs: number;
  /** the recorder, to fill a dropped link's hole with the agent's kept frames; absent: no backfill */
  backfill?: BackfillTarget;
}

/** A first hello waits for the registry; an agent sending this many messages meanwhile is not waited for. */
const MAX_HELD_MESSAGES = 2_000;

/**
 * `authorization` is the upgrade's header, kept to re-check the credential; `beforeHello` is this
 * socket's place in the per-credential count of sockets without hello (socket-limits.ts).
 */
export function acceptAgent(ws: WebSocket, cameraId: string, authorization: string | undefined, beforeHello: SocketLease, deps: AgentDeps): void {
  const log = deps.log.child({ cameraId, peer: 'agent' });
  let hello: HelloMessage | undefined;
  /** messages that arrived while the first hello waits for the registry; undefined: not waiting */
  let held: Array<{ data: Buffer; isBinary: boolean }> | undefined;
  let ended = false;
  let demandQueued = false;
  /** set at the first hello: the next live keyframe decides whether to ask for backfill */
  let backfillPending = false;
  let backfillRun: BackfillRun | undefined;
  const cameraMetrics = deps.metrics.forCamera(cameraId);

  const send = (text: string) => ws.send(text);
  const sendSettings = (settings: CameraSettings) => send(encodeMessage({ type: 'settings', settings }));
  const sendDemand = () => send(encodeMessage({ type: 'demand', viewers: deps.hub.demand(cameraId) }));

  const handle: AgentHandle = {
    cameraId,
    close(code, reason) {
      if (ended) return;
      ended = true;
      ws.close(code, reason);
    },
    pushSettings(settings) {
      if (hello && !ended) sendSettings(settings);
    },
    recheck() {
      if (ended) return;
      void credentialHolds().then((holds) => {
        if (!holds) handle.close(CloseCode.Unauthenticated, 'device credential revoked');
      });
    },
  };
  deps.connections.addWaitingAgent(handle);

  async function credentialHolds(): Promise<boolean> {
    try {
      return (await deps.access.authenticateAgent(authorization)).cameraId === cameraId;
    } catch (err) {
      // The registry cannot answer (Postgres away): a running stream goes on; the next sweep decides.
      return isDatabaseUnavailable(err);
    }
  }

  // The connection takes the camera over only at `hello`: a credential probe (`picam-agent check`)
  // opens the socket and closes it again, and must not knock the live agent off for its 4009 back-off.
  let publisher: ReturnType<AgentDeps['hub']['openPublisher']> | undefined;
  const helloTimer = setTimeout(() => {
    if (hello || ended) return;
    deps.metrics.agentRejected('out_of_order');
    log.warn({ timeoutMs: deps.helloTimeoutMs }, 'agent closed: no hello in time');
    handle.close(CloseCode.PolicyViolation, 'hello expected');
  }, deps.helloTimeoutMs);
  helloTimer.unref();

  const takeOver = (camera: { name: string }): NonNullable<typeof publisher> => {
    const previous = deps.connections.attachAgent(handle);
    previous?.close(CloseCode.Replaced, 'replaced by a newer agent connection');
    const opened = deps.hub.openPublisher(cameraId, {
      name: camera.name,
      // 50 viewers joining at once are one demand message, not 50.
      onViewerCount: () => {
        if (!hello || ended || demandQueued) return;
        demandQueued = true;
        setImmediate(() => {
          demandQueued = false;
          if (!ended) sendDemand();
        });
      },
      onReplaced: () => {
        log.info('agent closed: the camera was taken over by a newer connection on another node');
        handle.close(CloseCode.Replaced, 'replaced by a newer agent connection');
      },
    });
    markSeen(deps, cameraId, log);
    log.info({ replaced: previous !== undefined }, 'agent took over the camera');
    return opened;
  };

  const helloToPublisher = (message: HelloMessage) =>
    publisher!.hello({
      agentVersion: message.agentVersion,
      framerate: message.video?.framerate ?? message.settings.framerate,
      audio: message.audio,
    });

  function onHello(message: HelloMessage): void {
    const first = hello === undefined;
    hello = message;
    if (!first) {
      helloToPublisher(message);
      return;
    }
    clearTimeout(helloTimer);
    beforeHello.release();
    held = [];
    // Registry read once per connection, never per frame.
    Promise.all([credentialHolds(), deps.registry.get(cameraId)])
      .then(([holds, camera]) => {
        deps.connections.removeWaitingAgent(handle);
        if (ended) return;
        if (!camera) {
          deps.metrics.agentRejected('unknown_camera');
          handle.close(CloseCode.NoSuchCamera, 'no such camera');
          return;
        }
        if (!holds) {
          deps.metrics.agentRejected('unauthenticated');
          log.warn('agent closed: device credential revoked before hello');
          handle.close(CloseCode.Unauthenticated, 'device credential revoked');
          return;
        }
        publisher = takeOver(camera);
        backfillPending = deps.backfill !== undefined;
        helloToPublisher(message);
        if (!sameSettings(camera.settings, message.settings)) sendSettings(camera.settings);
        sendDemand();
        log.info({ agentVersion: message.agentVersion, video: message.video, audio: message.audio }, 'agent hello');
      })
      .catch((err: unknown) => {
        deps.connections.removeWaitingAgent(handle);
        log.warn({ err }, 'agent closed: the registry could not answer at hello');
        handle.close(CloseCode.InternalError, 'registry unavailable');
      })
      .finally(() => {
        const queue = held ?? [];
        held = undefined;
        for (const m of queue) onMessage(m.data, m.isBinary);
      });
  }

  ws.on('message', (data: Buffer, isBinary: boolean) => {
    if (ended) return;
    if (held) {
      if (held.length < MAX_HELD_MESSAGES) held.push({ data, isBinary });
      else handle.close(CloseCode.InternalError, 'registry too slow');
      return;
    }
    onMessage(data, isBinary);
  });

  function onMessage(data: Buffer, isBinary: boolean): void {
    if (ended) return;
    try {
      if (isBinary) {
        if (!hello) throw new AgentViolation(CloseCode.PolicyViolation, 'out_of_order', 'frame before hello');
        const { frame, sps, backfill } = ingestFrame(data);
        if (backfill) {
          onBackfillFrame(frame, sps);
          return;
        }
        // Before the keyframe is published: once it is, the recorder's end moves past the hole.
        if (backfillPending && frame.track === Track.Video && frame.keyframe) askForBackfill(frame.captureTimeUs);
        publisher!.publish(frame, sps);
        return;
      }
      const message = ingestText(data);
      if (message.type === 'hello') onHello(message);
      else if (!hello) throw new AgentViolation(CloseCode.PolicyViolation, 'out_of_order', `${message.type} before hello`);
      else if (message.type === 'stats') publisher!.cameraState(message.camera);
      else onBackfillDone(message);
    } catch (err) {
      const rejection = rejectionOf(err, isBinary);
      if (!rejection) {
        log.error({ err }, 'agent message handling failed');
        handle.close(CloseCode.InternalError, 'internal error');
        return;
      }
      const reason = (err as Error).message;
      deps.metrics.agentRejected(rejection.reason);
      log.warn({ code: rejection.closeCode, reason }, 'agent closed: bad message');
      handle.close(rejection.closeCode, closeReason(reason));
    }
  }

  function askForBackfill(liveKeyframeUs: number): void {
    backfillPending = false;
    const recordedUntilUs = deps.backfill!.recordedUntilUs(cameraId);
    if (recordedUntilUs === null || recordedUntilUs >= liveKeyframeUs) return;
    backfillRun = new BackfillRun(recordedUntilUs, liveKeyframeUs);
    send(encodeMessage({ type: 'backfill', fromUs: recordedUntilUs, toUs: liveKeyframeUs }));
    log.info({ fromUs: recordedUntilUs, toUs: liveKeyframeUs, seconds: (liveKeyframeUs - recordedUntilUs) / 1e6 }, 'asked the agent for backfill');
  }

  function onBackfillFrame(frame: HubFrame, sps: SpsVideoFormat | undefined): void {
    if (!backfillRun) throw new AgentViolation(CloseCode.PolicyViolation, 'backfill', 'backfill frame that was not asked for');
    backfillRun.accept(frame);
    cameraMetrics.backfillFramesIn.inc();
    cameraMetrics.backfillBytesIn.inc(frame.message.byteLength);
    deps.backfill!.writeBackfill(cameraId, frame, sps);
  }

  function onBackfillDone(message: BackfillDoneMessage): void {
    if (!backfillRun) throw new AgentViolation(CloseCode.PolicyViolation, 'backfill', 'backfill-done without a backfill asked for');
    backfillRun.checkDone(message);
    endBackfill({ agentFrames: message.frames, complete: message.complete });
  }

  /** The run is over (backfill-done, or the socket closed): the recorder closes what it wrote. */
  function endBackfill(outcome: { agentFrames?: number; complete?: boolean; closed?: boolean }): void {
    const run = backfillRun;
    if (!run) return;
    backfillRun = undefined;
    log.info({ frames: run.frames, bytes: run.bytes, ...outcome }, 'backfill ended');
    try {
      deps.backfill!.endBackfill(cameraId);
    } catch (err) {
      // Also called from the socket's close handler, where a throw would take the relay down.
      log.error({ err }, 'closing the backfill recording failed');
    }
  }

  ws.on('error', (err: Error & { code?: string }) => {
    // ws closes the socket itself (1009 over maxPayload, 1007 bad UTF-8, 1002 protocol errors).
    deps.metrics.agentRejected(err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH' ? 'oversized' : 'invalid_frame');
    log.warn({ err: err.message, code: err.code }, 'agent socket error');
  });

  ws.on('close', (code: number, reason: Buffer) => {
    ended = true;
    clearTimeout(helloTimer);
    deps.connections.removeWaitingAgent(handle);
    beforeHello.release();
    endBackfill({ closed: true });
    if (publisher) {
      publisher.close();
      deps.connections.detachAgent(handle);
      markSeen(deps, cameraId, log);
    }
    log.info({ code, reason: reason.toString() }, 'agent disconnected');
  });
}

function markSeen(deps: AgentDeps, cameraId: string, log: Logger): void {
  // During shutdown the database may already be closed (or Postgres away); a missed lastSeenAt is not worth a crash.
  const failed = (err: unknown) => log.debug({ err }, 'markSeen failed');
  try {
    deps.registry.markSeen(cameraId, Date.now()).catch(failed);
  } catch (err) {
    failed(err);
  }
}
