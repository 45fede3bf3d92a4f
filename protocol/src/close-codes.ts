/** WebSocket close codes used on both hops, in one place (docs/ARCHITECTURE.md "Wire format"). */
export const CloseCode = {
  Normal: 1000,
  GoingAway: 1001,
  ProtocolError: 1002,
  InvalidData: 1007,
  PolicyViolation: 1008,
  MessageTooBig: 1009,
  InternalError: 1011,
  Unauthenticated: 4001,
  Forbidden: 4003,
  NoSuchCamera: 4004,
  LinkExpired: 4008,
  Replaced: 4009,
  TooSlow: 4010,
} as const;
export type CloseCode = (typeof CloseCode)[keyof typeof CloseCode];
