export type { StreamHub, StreamObserver, Publisher, PublisherOptions, Subscription, SubscribeOptions } from './hub.ts';
export { InProcessHub, type InProcessHubOptions } from './in-process-hub.ts';
export type { HubFrame, FrameEncoder, EncodedFrame } from './frame.ts';
export type { PublisherInfo } from './stream.ts';
export { ViewerSession, Offer, LAG_LIMIT_US, OVER_BUDGET_CLOSE_MS, type ViewerSink, type ViewerLimits } from './viewer-session.ts';
export { DEFAULT_GOP_CACHE_BYTES } from './gop-cache.ts';
