/**
 * Failures the agent reports to a person (CLI) carry a stable code and a one-line message that
 * says what to do; the CLI prints the message alone, never a stack trace.
 */
export type AgentErrorCode =
  | 'ERR_CONFIG'
  | 'ERR_CONFIG_MISSING'
  | 'ERR_RELAY_URL'
  | 'ERR_RELAY_UNREACHABLE'
  | 'ERR_RELAY_RESPONSE'
  | 'ERR_TOKEN_INVALID'
  | 'ERR_TOKEN_EXPIRED';

export class AgentError extends Error {
  override readonly name = 'AgentError';
  readonly code: AgentErrorCode;

  constructor(code: AgentErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

export function isAgentError(value: unknown): value is AgentError {
  return value instanceof AgentError;
}
