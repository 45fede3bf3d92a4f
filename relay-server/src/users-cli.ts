import { Command, CommanderError, Option } from 'commander';
import type { RelayConfig } from './config.ts';
import { ApiError } from './errors.ts';
import { audit } from './db/audit.ts';
import { openDatabase, type OpenedDatabase } from './db/client.ts';
import { findUserByName, listUsers, toPublicUser } from './db/users.ts';
import { KeyStoreError, keysDir, openKeyStore, removeSigningKey, rotateSigningKey } from './auth/jwt-keys.ts';
import { openSharedKeyStore, removeSharedKey, rotateSharedKey } from './auth/shared-keys.ts';
import { createPasswordHasher, generatePassword } from './auth/passwords.ts';
import { addUser, changeUser, newPasswordSchema, removeUser, roleSchema, usernameSchema, type UserAdminDeps } from './auth/user-admin.ts';

/**
 * `picam-relay users add|list|passwd|remove` and `picam-relay keys rotate|list|remove`, as functions
 * cli.ts dispatches to (argv = the words after `users` / `keys`). They work on the database and
 * key files directly, so they also run while the relay is down. A password comes from
 * `--password-stdin` (preferred: argv is visible to other local users), `--password`, or is
 * generated and printed once; a supplied password is never echoed.
 * A running relay notices key rotation and removal by itself (it looks at a key's file before
 * each use); sessions ended and share links revoked here stop its live viewers at their next
 * re-check (the CLI cannot reach the relay's process).
 */

export interface CliIo {
  stdout(text: string): void;
  stderr(text: string): void;
  stdin: NodeJS.ReadableStream;
}

const processIo: CliIo = {
  stdout: (t) => process.stdout.write(t),
  stderr: (t) => process.stderr.write(t),
  stdin: process.stdin,
};

const CLI_ACTOR = { id: 'system', address: null };

async function readStdin(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer));
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}

interface PasswordFlags {
  password?: string;
  passwordStdin?: boolean;
}

/** The chosen password, and whether it was generated here (then it is printed once). */
async function choosePassword(flags: PasswordFlags, io: CliIo): Promise<{ password: string; generated: boolean }> {
  if (flags.password !== undefined && flags.passwordStdin) throw new ApiError(400, 'bad_request', 'give --password or --password-stdin, not both');
  const supplied = flags.passwordStdin ? await readStdin(io.stdin) : flags.password;
  if (supplied === undefined) return { password: generatePassword(), generated: true };
  const checked = newPasswordSchema.safeParse(supplied);
  if (!checked.success) throw new ApiError(400, 'validation_failed', 'password must be 8-1024 characters');
  return { password: checked.data, generated: false };
}

function parseUsername(value: string): string {
  const parsed = usernameSchema.safeParse(value);
  if (!parsed.success) throw new ApiError(400, 'validation_failed', parsed.error.issues[0]?.message ?? 'bad username');
  return parsed.data;
}

function program(name: string, io: CliIo): Command {
  return new Command(name)
    .exitOverride()
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr })
    .showHelpAfterError();
}

/** Runs a commander program, turning usage errors and ApiErrors into exit codes and one message. */
async function run(cmd: Command, argv: string[], io: CliIo): Promise<number> {
  try {
    await cmd.parseAsync(argv, { from: 'user' });
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode;
    if (err instanceof ApiError || err instanceof KeyStoreError) {
      io.stderr(`error: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
}

const passwordOptions = (cmd: Command) =>
  cmd
    .option('--password <password>', 'the password (visible in the process list: prefer --password-stdin)')
    .option('--password-stdin', 'read the password from standard input');

export async function runUsersCommand(argv: string[], config: RelayConfig, io: CliIo = processIo): Promise<number> {
  const opened = await openDatabase(config);
  const deps: UserAdminDeps = { db: opened.db, hasher: createPasswordHasher(), now: Date.now };
  const find = async (username: string) => {
    const user = await findUserByName(opened.db, parseUsername(username));
    if (!user) throw new ApiError(404, 'not_found', `no user ${username}`);
    return user;
  };
  const cmd = program('picam-relay users', io).description('manage relay accounts');

  passwordOptions(
    cmd
      .command('add <username>')
      .description('create an account')
      .addOption(new Option('--role <role>', 'admin or viewer').choices(['admin', 'viewer']).default('viewer'))
      .option('--camera <ids...>', 'cameras a viewer may watch'),
  ).action(async (username: string, flags: PasswordFlags & { role: string; camera?: string[] }) => {
    const { password, generated } = await choosePassword(flags, io);
    const user = await addUser(
      deps,
      { username: parseUsername(username), password, role: roleSchema.parse(flags.role), cameraIds: flags.camera },
      CLI_ACTOR,
    );
    io.stdout(`added ${user.username} (${user.role})\n`);
    if (generated) io.stdout(`password: ${password}\n(shown once; store it now)\n`);
  });

  cmd
    .command('list')
    .description('list accounts')
    .action(async () => {
      for (const row of await listUsers(opened.db)) {
        const user = await toPublicUser(opened.db, row);
        const cameras = user.role === 'admin' ? 'all cameras' : user.cameraIds.join(',') || 'no cameras';
        io.stdout(`${user.username}\t${user.role}\t${cameras}\tcreated ${new Date(user.createdAt).toISOString()}\n`);
      }
    });

  passwordOptions(cmd.command('passwd <username>').description("set a user's password (ends their sessions)")).action(
    async (username: string, flags: PasswordFlags) => {
      const user = await find(username);
      const { password, generated } = await choosePassword(flags, io);
      const { endedSessions } = await changeUser(deps, user.id, { password }, CLI_ACTOR);
      io.stdout(`password changed for ${user.username}; ${endedSessions.length} session(s) ended\n`);
      if (generated) io.stdout(`password: ${password}\n(shown once; store it now)\n`);
    },
  );

  cmd
    .command('remove <username>')
    .description('delete an account, its sessions and the share links it made')
    .action(async (username: string) => {
      const { user, revokedShares } = await removeUser(deps, (await find(username)).id, CLI_ACTOR);
      io.stdout(`removed ${user.username}; ${revokedShares.length} share link(s) they made revoked\n`);
    });

  try {
    return await run(cmd, argv, io);
  } finally {
    await opened.close();
  }
}

/** With DATABASE_URL the keys are the cluster's, in Postgres (auth/shared-keys.ts); else files in DATA_DIR/keys. */
export async function runKeysCommand(argv: string[], config: RelayConfig, io: CliIo = processIo): Promise<number> {
  const shared = config.databaseUrl !== undefined;
  const home = shared ? 'the database (table signing_keys, shared by every node)' : keysDir(config.dataDir);
  const cmd = program('picam-relay keys', io).description(`manage JWT signing keys in ${home}`);
  const withDatabase = async <T>(fn: (db: OpenedDatabase['db']) => Promise<T>): Promise<T> => {
    const opened = await openDatabase(config);
    try {
      return await fn(opened.db);
    } finally {
      await opened.close();
    }
  };

  cmd
    .command('rotate')
    .description('add a new signing key (old keys keep verifying until `keys remove <kid>`)')
    .action(async () => {
      const info = await withDatabase(async (db) => {
        const added = shared ? await rotateSharedKey(db) : await rotateSigningKey(config.dataDir);
        await audit(db, Date.now(), { actor: 'system', action: 'keys.rotate', target: added.kid });
        return added;
      });
      io.stdout(`new signing key ${info.kid}\n`);
    });

  cmd
    .command('remove <kid>')
    .description('delete a signing key: sessions and share links it signed stop working at once (running relays too)')
    .action(async (kid: string) => {
      await withDatabase(async (db) => {
        if (shared) await removeSharedKey(db, kid);
        else removeSigningKey(config.dataDir, kid);
        await audit(db, Date.now(), { actor: 'system', action: 'keys.remove', target: kid });
      });
      io.stdout(`removed signing key ${kid}\n`);
    });

  cmd
    .command('list')
    .description('list signing keys, newest (signing) first')
    .action(async () => {
      const keys = await withDatabase(async (db) => (await (shared ? openSharedKeyStore(db) : openKeyStore(config.dataDir))).list());
      keys.forEach((k, i) => io.stdout(`${k.kid}\t${new Date(k.created).toISOString()}${i === 0 ? '\tsigning' : ''}\n`));
    });

  return run(cmd, argv, io);
}
