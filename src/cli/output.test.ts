import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Command, CommanderError } from 'commander';
import pino from 'pino';
import { loadConfig } from '../config/index.ts';
import { createMemoryStore, type Database } from '../store/index.ts';
import { contextRunner, printList, printRecord, type CommandContext } from './index.ts';

/** What `work` printed with console.log, line by line. */
async function printed(work: () => unknown): Promise<string[]> {
  const lines: string[] = [];
  const original = console.log;
  console.log = (line: string) => lines.push(line);
  try {
    await work();
  } finally {
    console.log = original;
  }
  return lines;
}

class Refusal extends Error {}

describe('the commands’ shared output', () => {
  it('lists as a JSON array, a line a record, or says there are none', async () => {
    const records = [{ id: 'a', name: 'A' }, { id: 'b', name: 'B\tC' }];
    assert.deepEqual(await printed(() => printList(records, true, (r) => r.id, 'none')), [JSON.stringify(records)]);
    assert.deepEqual(await printed(() => printList(records, false, (r) => `${r.id}\t${r.name}`, 'none')), ['a\tA', 'b\tB\tC']);
    assert.deepEqual(await printed(() => printList([], undefined, String, 'no things registered')), ['no things registered']);
    assert.deepEqual(await printed(() => printList([], true, String, 'no things registered')), ['[]'], 'JSON stays JSON when empty');
  });

  it('shows a record as JSON, or key: value lines with lists joined and objects as JSON', async () => {
    const record = { id: 'x', uris: ['https://a', 'https://b'], none: [], missing: null, count: 2, nested: { a: [1] }, hostile: 'line\nbreak' };
    assert.deepEqual(await printed(() => printRecord(record, true)), [JSON.stringify(record)]);
    assert.deepEqual(await printed(() => printRecord(record, undefined)), ['id: x', 'uris: https://a, https://b', 'none: ', 'missing: null', 'count: 2', 'nested: {"a":[1]}', 'hostile: line\nbreak']);
  });

  describe('contextRunner', () => {
    const run = contextRunner(Refusal);
    const opened = () => {
      const state = { closed: 0 };
      const open = async (): Promise<CommandContext> => ({ config: loadConfig(), db: {} as Database, ephemeral: createMemoryStore(), log: pino({ level: 'silent' }), now: () => new Date(), close: async () => void state.closed++ });
      return { state, open };
    };
    const command = () => new Command('probe').exitOverride().configureOutput({ writeErr: () => {} });

    it('hands the work its context and closes it after', async () => {
      const { state, open } = opened();
      let seen: CommandContext | undefined;
      await run(open, command(), async (context) => void (seen = context));
      assert.ok(seen);
      assert.equal(state.closed, 1);
    });

    it('turns a refusal into “error: …” and exit code 1, and closes the context', async () => {
      const { state, open } = opened();
      await assert.rejects(
        run(open, command(), async () => {
          throw new Refusal('no client x');
        }),
        (error: unknown) => error instanceof CommanderError && error.exitCode === 1 && error.message === 'error: no client x',
      );
      assert.equal(state.closed, 1);
    });

    it('lets any other failure through as it is, and still closes the context', async () => {
      const { state, open } = opened();
      const failure = new TypeError('a bug');
      await assert.rejects(
        run(open, command(), async () => {
          throw failure;
        }),
        (error: unknown) => error === failure,
      );
      assert.equal(state.closed, 1);
    });
  });
});
