import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Command, CommanderError } from 'commander';
import pino from 'pino';
import { databaseTargets } from '../../test/support/stores.ts';
import { configSchema } from '../config/schema.ts';
import { registerMailCommands } from '../mail/index.ts';
import { createMemoryStore, type Database } from '../store/index.ts';
import { registerJobCommands, JobCommandError, type Job } from './index.ts';

const log = pino({ level: 'silent' });

for (const target of databaseTargets()) {
  describe(`tillit jobs … and tillit mail … on ${target.name}`, () => {
    let db: Database;
    let clock = new Date('2026-04-01T10:00:00Z');
    let release: (() => void) | undefined;
    const output: string[] = [];
    const errors: string[] = [];
    const jobs: Job[] = [
      { name: 'count-eids', description: 'counts eIDs', defaultSchedule: 'daily 02:00', run: async (_c, { dryRun }) => ({ counted: 7, dryRun }) },
      {
        name: 'broken',
        description: 'always fails',
        defaultSchedule: 'every 5m',
        run: async () => {
          throw new Error('the catalogue is unreachable');
        },
      },
      { name: 'held', description: 'waits', defaultSchedule: 'off', run: () => new Promise((resolve) => (release = () => resolve({}))) },
    ];
    const run = async (...args: string[]) => {
      output.length = 0;
      errors.length = 0;
      const config = configSchema.parse({ dataDir: 'memory://', jobs: { schedule: { broken: 'every 10m' } } });
      const program = new Command('tillit').exitOverride().configureOutput({ writeErr: (s) => errors.push(s), writeOut: (s) => output.push(s) });
      const context = { config, db, ephemeral: createMemoryStore(), log, now: () => clock, close: async () => {} };
      registerJobCommands(program, async () => ({ ...context, jobs }), (s) => output.push(s));
      registerMailCommands(program, async () => context, (s) => output.push(s));
      await program.parseAsync(['node', 'tillit', ...args]);
      return output.join('');
    };

    before(async () => (db = await target.open()));
    after(() => db?.close());

    it('jobs list shows each job with its effective schedule, next due time and last run', async () => {
      const text = await run('jobs', 'list');
      assert.match(text, /count-eids +daily 02:00 +next 2026-04-02T00:00:00\.000Z +counts eIDs/, 'daily 02:00 Stockholm summer time is 00:00 UTC');
      assert.match(text, /broken +every 10m +next 2026-04-01T10:00:00\.000Z/, 'the config’s schedule wins over the default');
      assert.match(text, /held +off +next —/);
      assert.match(text, /last: never run/);
      const listed = JSON.parse(await run('jobs', 'list', '--json'));
      assert.deepEqual(listed.map((j: { name: string; schedule: string; lastRun: unknown }) => [j.name, j.schedule, j.lastRun]), [['count-eids', 'daily 02:00', null], ['broken', 'every 10m', null], ['held', 'off', null]]);
    });

    it('jobs run runs one by hand, dry or not, and prints the run with its summary; runs and show read them back', async () => {
      const dry = JSON.parse(await run('jobs', 'run', 'count-eids', '--dry-run', '--json'));
      assert.equal(dry.outcome, 'succeeded');
      assert.equal(dry.trigger, 'manual');
      assert.deepEqual(dry.summary, { counted: 7, dryRun: true });
      const text = await run('jobs', 'run', 'count-eids');
      assert.match(text, /^run \d+ count-eids succeeded in 0\.0 s, started 2026-04-01T10:00:00\.000Z by manual on /);
      assert.match(text, /"counted": 7/);
      const runs = JSON.parse(await run('jobs', 'runs', '--job', 'count-eids', '--json'));
      assert.deepEqual(runs.map((r: { dryRun: boolean }) => r.dryRun), [false, true]);
      assert.match(await run('jobs', 'runs', '--limit', '1'), /^run \d+ count-eids succeeded in/);
      assert.deepEqual(JSON.parse(await run('jobs', 'show', String(dry.id))).summary, { counted: 7, dryRun: true });
      assert.match(await run('jobs', 'list'), /last: run \d+ count-eids succeeded/);
    });

    it('a failing job is recorded and the command fails with its message; an unknown job or run is named', async () => {
      await assert.rejects(run('jobs', 'run', 'broken'), (error: Error) => error instanceof JobCommandError && error.message === 'job broken failed: the catalogue is unreachable');
      assert.match(output.join(''), /broken failed .*: the catalogue is unreachable/);
      await assert.rejects(run('jobs', 'run', 'nosuch'), /no job "nosuch"; this system has: count-eids, broken, held/);
      await assert.rejects(run('jobs', 'show', '99999'), /no run 99999/);
      await assert.rejects(run('jobs', 'runs', '--limit', '0'), CommanderError);
    });

    it('jobs run is refused while the job runs elsewhere', async () => {
      const first = run('jobs', 'run', 'held');
      while (!release) await new Promise((resolve) => setImmediate(resolve));
      await assert.rejects(run('jobs', 'run', 'held'), /job held is running \(run \d+\); try again when it has finished/);
      release();
      await first;
    });

    it('mail dead-letters lists what was given up and mail retry queues it again', async () => {
      const [row] = await db.query<{ id: number }>(
        `insert into mail_outbox (created_at, template, locale, recipient, subject, text_body, html_body, next_attempt_at, status, attempts, last_error, dead_at)
         values ($1, 't', 'sv', 'gone@region.example', 'Ämne', 'text', '<p>html</p>', $1, 'dead', 8, '550 5.1.1 no such mailbox', $1) returning id`,
        [clock],
      );
      assert.match(await run('mail', 'dead-letters'), new RegExp(`${row!.id} dead +gone@region.example \\(sv\\) "Ämne" attempts 8; last error: 550 5\\.1\\.1 no such mailbox`));
      assert.equal(JSON.parse(await run('mail', 'dead-letters', '--json'))[0].id, row!.id);
      await assert.rejects(run('mail', 'retry'), CommanderError);
      assert.match(errors.join(''), /name the dead letters to retry, or --all/);
      await assert.rejects(run('mail', 'retry', '1; drop table mail_outbox'), CommanderError);
      assert.equal(await run('mail', 'retry', String(row!.id), '424242'), `1 queued again: ${row!.id}; not dead letters: 424242\n`);
      assert.equal(await run('mail', 'dead-letters'), 'no dead letters\n');
      assert.match(await run('mail', 'outbox', '--status', 'pending'), /pending gone@region.example/);
    });
  });
}
