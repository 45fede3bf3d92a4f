// jmuxer 2.1 ships no types: the part of its API the player uses (node_modules/jmuxer/src/jmuxer.js).
declare module 'jmuxer' {
  export interface JMuxerOptions {
    node: string | HTMLVideoElement;
    mode?: 'both' | 'video' | 'audio';
    videoCodec?: 'H264' | 'H265';
    /** ms between flushes to the SourceBuffer; 0 = append every fed frame at once */
    flushingTime?: number;
    /** ms behind the buffered end before jmuxer itself seeks (checked once a second when flushingTime is 0) */
    maxDelay?: number;
    clearBuffer?: boolean;
    fps?: number;
    readFpsFromTrack?: boolean;
    /** live: the init segment's duration is "unknown" (0xffffffff) instead of 0 */
    live?: boolean;
    debug?: boolean;
    onReady?: (isReset: boolean, mediaSource: MediaSource) => void;
    onData?: (payload: Uint8Array) => void;
    onError?: (error: { type: string; name: string; error?: unknown }) => void;
    onUnsupportedCodec?: (codec: string) => void;
    onMissingVideoFrames?: () => void;
    onMissingAudioFrames?: () => void;
    onKeyframePosition?: (seconds: number) => void;
    onLoggerLog?: (...args: unknown[]) => void;
    onLoggerErr?: (...args: unknown[]) => void;
  }

  export interface JMuxerFeed {
    video?: Uint8Array;
    audio?: Uint8Array;
    /** ms; whole milliseconds (jmuxer parseInt()s it); 0 makes jmuxer hold the last NAL units back */
    duration?: number;
    compositionTimeOffset?: number;
    /** the chunk ends with a whole frame: do not keep its last NAL unit waiting for the next chunk */
    isLastVideoFrameComplete?: boolean;
  }

  export default class JMuxer {
    static isSupported(codec: string): boolean;
    constructor(options: JMuxerOptions);
    feed(data: JMuxerFeed): void;
    reset(): void;
    destroy(): void;
  }
}
