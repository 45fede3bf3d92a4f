import { CloseCode, type CameraSettings } from '@picam/protocol';
import type { LiveCameras, LiveCameraStatus, ViewerGrant } from '../services.ts';
import type { StreamHub } from '../streams/hub.ts';

/**
 * Who is connected, by camera and by grant: the streaming side's answer to the accounts side
 * (LiveCameras). Revocations arrive here and are turned into closes with the right code.
 */

export interface AgentHandle {
  readonly cameraId: string;
  close(code: number, reason: string): void;
  pushSettings(settings: CameraSettings): void;
  /** re-checks the device credential; closes the agent (4001) when it no longer holds */
  recheck(): void;
}

/** a grant's re-check: `unknown` when the registry could not answer (the viewer stays) */
export type GrantVerdict = 'valid' | 'invalid' | 'unknown';

export interface ViewerHandle {
  readonly grant: ViewerGrant;
  close(code: number, reason: string): void;
  /** re-checks the grant and closes the viewer when it no longer holds; `verdicts` caches one answer per grant within a sweep */
  recheck(verdicts?: Map<string, Promise<GrantVerdict>>): void;
}

export class ConnectionRegistry implements LiveCameras {
  private readonly hub: StreamHub;
  private readonly agents = new Map<string, AgentHandle>();
  /** agent sockets authenticated at the upgrade that have not said hello yet, by camera */
  private readonly waitingAgents = new Map<string, Set<AgentHandle>>();
  private readonly viewersByCamera = new Map<string, Set<ViewerHandle>>();
  private readonly viewersByGrant = new Map<string, Set<ViewerHandle>>();

  constructor(hub: StreamHub) {
    this.hub = hub;
  }

  /** Registers the camera's agent connection; returns the one it replaces, for the caller to close. */
  attachAgent(agent: AgentHandle): AgentHandle | undefined {
    const previous = this.agents.get(agent.cameraId);
    this.agents.set(agent.cameraId, agent);
    return previous === agent ? undefined : previous;
  }

  detachAgent(agent: AgentHandle): void {
    // A replaced connection closing late must not unregister its successor.
    if (this.agents.get(agent.cameraId) === agent) this.agents.delete(agent.cameraId);
  }

  /** An agent socket waiting for hello: revocation and deletion must reach it too. */
  addWaitingAgent(agent: AgentHandle): void {
    add(this.waitingAgents, agent.cameraId, agent);
  }

  removeWaitingAgent(agent: AgentHandle): void {
    remove(this.waitingAgents, agent.cameraId, agent);
  }

  /** every agent socket, live or waiting for hello, for the periodic credential sweep */
  agentSockets(): AgentHandle[] {
    return [...this.agents.values(), ...[...this.waitingAgents.values()].flatMap((set) => [...set])];
  }

  /** the camera's live agent and every socket still waiting to become it */
  private agentsOf(cameraId: string): AgentHandle[] {
    const live = this.agents.get(cameraId);
    return [...(live ? [live] : []), ...(this.waitingAgents.get(cameraId) ?? [])];
  }

  addViewer(viewer: ViewerHandle): void {
    add(this.viewersByCamera, viewer.grant.cameraId, viewer);
    add(this.viewersByGrant, viewer.grant.id, viewer);
  }

  removeViewer(viewer: ViewerHandle): void {
    remove(this.viewersByCamera, viewer.grant.cameraId, viewer);
    remove(this.viewersByGrant, viewer.grant.id, viewer);
  }

  /** every viewer, for the periodic grant sweep */
  viewers(): ViewerHandle[] {
    return [...this.viewersByCamera.values()].flatMap((set) => [...set]);
  }

  // ---- LiveCameras ---------------------------------------------------------------------------

  status(cameraId: string): LiveCameraStatus | undefined {
    return this.hub.status(cameraId);
  }

  viewersOfGrant(grantId: string): number {
    return this.viewersByGrant.get(grantId)?.size ?? 0;
  }

  pushSettings(cameraId: string, settings: CameraSettings): void {
    this.agents.get(cameraId)?.pushSettings(settings);
  }

  cameraDeleted(cameraId: string): void {
    for (const agent of this.agentsOf(cameraId)) agent.close(CloseCode.NoSuchCamera, 'camera deleted');
    for (const viewer of [...(this.viewersByCamera.get(cameraId) ?? [])]) viewer.close(CloseCode.NoSuchCamera, 'camera deleted');
    this.hub.removeCamera(cameraId);
  }

  credentialRevoked(cameraId: string): void {
    for (const agent of this.agentsOf(cameraId)) agent.close(CloseCode.Unauthenticated, 'device credential revoked');
  }

  grantRevoked(grantId: string): void {
    for (const viewer of [...(this.viewersByGrant.get(grantId) ?? [])]) viewer.recheck();
  }

  recheckUser(userId: string): void {
    for (const set of this.viewersByGrant.values()) {
      for (const viewer of [...set]) if (viewer.grant.userId === userId) viewer.recheck();
    }
  }
}

function add<T>(map: Map<string, Set<T>>, key: string, value: T): void {
  let set = map.get(key);
  if (!set) map.set(key, (set = new Set()));
  set.add(value);
}

function remove<T>(map: Map<string, Set<T>>, key: string, value: T): void {
  const set = map.get(key);
  if (!set) return;
  set.delete(value);
  if (set.size === 0) map.delete(key);
}
