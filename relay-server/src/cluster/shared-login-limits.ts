import type { LoginLimitEvent, SharedLoginLimits } from '../services.ts';
import { decodeJson, encodeJson, loginLimitMessageSchema, subjects } from './messages.ts';
import type { LinkSubscription, NatsLink } from './nats-link.ts';

/**
 * The login limits' counts shared over `picam.login`: every attempt a node admits, takes back or
 * sees fail is told to the others, which count it as their own (auth/login.ts). While NATS is down
 * each node limits alone, as a single relay does; nothing is queued to replay later.
 */
export class NatsLoginLimits implements SharedLoginLimits {
  private readonly link: NatsLink;
  private readonly nodeId: string;
  private subscription: LinkSubscription | undefined;

  constructor(link: NatsLink, nodeId: string) {
    this.link = link;
    this.nodeId = nodeId;
  }

  publish(event: LoginLimitEvent): void {
    this.link.publish(subjects.loginLimits, encodeJson({ node: this.nodeId, event }));
  }

  onEvent(apply: (event: LoginLimitEvent) => void): void {
    this.subscription?.unsubscribe();
    this.subscription = this.link.subscribe(subjects.loginLimits, (msg) => {
      const message = decodeJson(loginLimitMessageSchema, msg.data);
      if (message && message.node !== this.nodeId) apply(message.event);
    });
  }

  close(): void {
    this.subscription?.unsubscribe();
  }
}
