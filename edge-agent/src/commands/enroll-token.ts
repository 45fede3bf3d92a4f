import { readFileSync, statSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { AgentError } from '../errors.ts';

/**
 * Where `picam-agent enroll` gets its one-time token. Safest first: standard input (`--token -`,
 * piped or typed at a prompt) or a file (`--token-file PATH`); both keep the token out of the
 * process list (/proc/PID/cmdline is readable by every local user) and out of shell history.
 * `--token TOKEN` still works for a quick manual enrollment, but is the less safe form.
 */

export interface TokenFlags {
  token?: string | undefined;
  tokenFile?: string | undefined;
}

/** Reads all of a piped stdin, or one line typed at a prompt when stdin is a terminal. */
async function readStdin(stdin: NodeJS.ReadStream, prompt: (text: string) => void): Promise<string> {
  if (stdin.isTTY) {
    prompt('Enrollment token: ');
    const lines = createInterface({ input: stdin, terminal: false });
    for await (const line of lines) {
      lines.close();
      return line;
    }
    return '';
  }
  const chunks: Buffer[] = [];
  for await (const chunk of stdin) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer));
  return Buffer.concat(chunks).toString('utf8');
}

function readTokenFile(path: string, warn: (text: string) => void): string {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new AgentError('ERR_CONFIG', `cannot read --token-file ${path}${code ? ` (${code})` : ''}`);
  }
  if ((statSync(path).mode & 0o077) !== 0) warn(`warning: ${path} is readable by other users; keep token files mode 0600\n`);
  return text;
}

export async function readEnrollmentToken(
  flags: TokenFlags,
  io: { stdin: NodeJS.ReadStream; stderr: (text: string) => void } = { stdin: process.stdin, stderr: (t) => process.stderr.write(t) },
): Promise<string> {
  if (flags.token !== undefined && flags.tokenFile !== undefined) {
    throw new AgentError('ERR_CONFIG', 'give --token or --token-file, not both');
  }
  let raw: string;
  let source: string;
  if (flags.tokenFile !== undefined) {
    raw = readTokenFile(flags.tokenFile, io.stderr);
    source = `--token-file ${flags.tokenFile}`;
  } else if (flags.token === '-') {
    raw = await readStdin(io.stdin, io.stderr);
    source = 'standard input';
  } else if (flags.token !== undefined) {
    raw = flags.token;
    source = '--token';
  } else {
    throw new AgentError('ERR_CONFIG', 'the enrollment token is required: --token - (read from standard input), --token-file PATH, or --token TOKEN');
  }
  // One token, one line: anything after the first line (a stray second paste) is ignored.
  const token = raw.trim().split(/\r?\n/)[0]?.trim() ?? '';
  if (token === '') throw new AgentError('ERR_CONFIG', source === 'standard input' ? 'no enrollment token on standard input' : `${source} is empty`);
  return token;
}
