import { Command, InvalidArgumentError } from 'commander';
import type { CommandContext } from '../cli/index.ts';
import { listDeadLetters, listOutbox, retryDeadLetters, type OutboxMessage } from './outbox.ts';

const positiveInt = (value: string) => {
  if (!/^\d{1,6}$/.test(value) || Number(value) < 1) throw new InvalidArgumentError('expected a whole number from 1');
  return Number(value);
};

/** `tillit mail outbox|dead-letters|retry`. `write` is for tests. */
export function registerMailCommands(program: Command, open: (command: Command) => Promise<CommandContext>, write: (text: string) => void = (t) => process.stdout.write(t)): void {
  const print = (line: string) => write(`${line}\n`);
  const mail = program.command('mail').description('the e-mail outbox: queued, sent and dead letters');
  const using = async (command: Command, work: (context: CommandContext) => Promise<void>) => {
    const context = await open(command);
    try {
      await work(context);
    } finally {
      await context.close();
    }
  };
  const show = (messages: OutboxMessage[], json: boolean | undefined, empty: string) => {
    if (json) return print(JSON.stringify(messages));
    if (!messages.length) return print(empty);
    for (const m of messages) {
      print(`${String(m.id).padStart(6)} ${m.status.padEnd(7)} ${m.recipient} (${m.locale}) "${m.subject}" attempts ${m.attempts}${m.lastError ? `; last error: ${m.lastError}` : ''}`);
    }
  };

  mail
    .command('outbox')
    .description('the newest messages with their state')
    .option('--status <status>', 'pending, sent or dead')
    .option('--limit <n>', 'how many', positiveInt, 50)
    .option('--json', 'print JSON')
    .action((options: { status?: string; limit: number; json?: boolean }, command: Command) =>
      using(command, async (context) => {
        if (options.status && !['pending', 'sent', 'dead'].includes(options.status)) command.error(`error: --status ${options.status}: expected pending, sent or dead`, { exitCode: 2 });
        show(await listOutbox(context.db, { ...(options.status ? { status: options.status as OutboxMessage['status'] } : {}), limit: options.limit }), options.json, 'the outbox is empty');
      }),
    );

  mail
    .command('dead-letters')
    .description('messages given up after mail.maxAttempts, with the last error')
    .option('--json', 'print JSON')
    .action((options: { json?: boolean }, command: Command) => using(command, async (context) => show(await listDeadLetters(context.db), options.json, 'no dead letters')));

  mail
    .command('retry')
    .description('queue dead letters again with fresh attempts (the mail-sender job sends them)')
    .argument('[ids...]', 'message ids')
    .option('--all', 'every dead letter')
    .action((ids: string[], options: { all?: boolean }, command: Command) =>
      using(command, async (context) => {
        if (!options.all && !ids.length) command.error('error: name the dead letters to retry, or --all', { exitCode: 2 });
        const bad = ids.find((value) => !/^\d{1,15}$/.test(value));
        if (bad !== undefined) command.error(`error: ${JSON.stringify(bad)} is not a message id (see tillit mail dead-letters)`, { exitCode: 2 });
        const wanted = options.all ? ('all' as const) : ids.map(Number);
        const queued = await retryDeadLetters(context.db, wanted, context.now());
        const missed = wanted === 'all' ? [] : wanted.filter((w) => !queued.includes(w));
        print(`${queued.length} queued again${queued.length ? `: ${queued.join(', ')}` : ''}${missed.length ? `; not dead letters: ${missed.join(', ')}` : ''}`);
      }),
    );
}
