import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Command } from 'commander';
import { pino } from 'pino';
import { databaseTargets } from '../../../test/support/stores.ts';
import { configSchema } from '../../config/schema.ts';
import type { Region } from '../../directory/index.ts';
import type { PartContext } from '../../server/index.ts';
import { createMemoryStore, type Database } from '../../store/index.ts';
import { registerPortalCommands } from '../cli.ts';
import { PortalRefused } from '../errors.ts';
import { employeesOf, seedTestRegion } from '../testing.ts';

const now = new Date('2026-05-01T09:00:00Z');

for (const target of databaseTargets()) {
  describe(`tillit report … (${target.name})`, () => {
    let db: Database;
    let region: Region;
    let org: string;
    const output: string[] = [];
    const context = (): PartContext => ({ config: configSchema.parse({ dataDir: 'memory://' }), db, ephemeral: createMemoryStore(), log: pino({ level: 'silent' }), now: () => now });
    const run = async (...args: string[]) => {
      output.length = 0;
      const program = new Command('tillit').exitOverride().configureOutput({ writeErr: () => {}, writeOut: () => {} });
      registerPortalCommands(program, async () => ({ ...context(), close: async () => {} }), (s) => output.push(s));
      await program.parseAsync(['node', 'tillit', ...args]);
      return output.join('');
    };
    // What the test writes: per kind, how many cards end in which status.
    const plan = [
      { kind: 'ordinary', loa: 3, status: 'ordered', at: '2026-01-15T10:00:00Z' },
      { kind: 'ordinary', loa: 3, status: 'revoked', at: '2026-02-15T10:00:00Z' },
      { kind: 'reserve', loa: 2, status: 'revoked', at: '2026-02-16T10:00:00Z' },
      { kind: 'test', loa: null, status: 'ordered', at: '2026-03-01T10:00:00Z' },
    ];
    before(async () => {
      db = await target.open();
      region = await seedTestRegion(db, now);
      org = region.organisations[0]!.hsaId;
      const people = employeesOf(region, org);
      for (const [i, card] of plan.entries()) {
        const [row] = await db.query<{ id: number }>(
          `insert into portal_card (kind, loa, personnummer, holder_hsa_id, organisation_hsa_id, status, ordered_by, ordered_at, updated_at) values ($1, $2, $3, $4, $5, 'ordered', 't', $6, $6) returning id`,
          [card.kind, card.loa, people[i]!.personnummer, people[i]!.hsaId, org, card.at],
        );
        if (card.status === 'revoked') {
          await db.transaction(async (tx) => {
            await tx.query(
              `insert into portal_revocation (card_id, personnummer, serials, reported_by, channel, received_at, registered_at, reason, received_by, keep_until) values ($1, $2, '{}', 'x', 'phone', $3, $3, 'lost', 't', '2036-01-01')`,
              [row!.id, people[i]!.personnummer, card.at],
            );
            await tx.query(`update portal_card set status = 'revoked', updated_at = $2 where id = $1`, [row!.id, card.at]);
          });
        }
      }
    });
    after(async () => {
      await db.close();
    });

    it('prints the status report as JSON, CSV and a table with the counts written', async () => {
      const json = JSON.parse(await run('report', 'status', '--org', org, '--by', 'type,status', '--format', 'json')) as { rows: { type: string; status: string; count: number }[]; total: number };
      const expected = new Map<string, number>();
      for (const p of plan) expected.set(`${p.kind}-card ${p.status}`, (expected.get(`${p.kind}-card ${p.status}`) ?? 0) + 1);
      assert.deepEqual(new Map(json.rows.map((r) => [`${r.type} ${r.status}`, r.count])), expected);
      assert.equal(json.total, plan.length);
      const csv = await run('report', 'status', '--organisation', org, '--by', 'status', '--format', 'csv');
      assert.equal(csv, `status,count\r\nordered,2\r\nrevoked,2\r\n`);
      const table = await run('report', 'status', '--org', org, '--by', 'status,reason');
      assert.match(table, /^status\s+reason\s+count\n-+/);
      assert.match(table, /revoked\s+lost\s+2\n/);
      assert.match(table, /total 4\n$/);
    });

    it('prints the event report per month by reason', async () => {
      const csv = await run('report', 'events', '--org', org, '--from', '2026-01-01', '--to', '2026-03-31', '--per', 'month', '--by', 'event,reason', '--format', 'csv');
      assert.equal(csv, ['period,event,reason,count', '2026-01,ordered,,1', '2026-02,ordered,,2', '2026-02,revoked,lost,2', '2026-03,ordered,,1', ''].join('\r\n'));
    });

    it('refuses bad parameters naming them', async () => {
      const refused = (pattern: RegExp) => (error: unknown) => error instanceof PortalRefused && pattern.test(error.message);
      await assert.rejects(run('report', 'status', '--by', 'type'), refused(/--organisation \(or --org\): missing/));
      await assert.rejects(run('report', 'events', '--org', org, '--from', '2026-01-01', '--to', '2026-03-31', '--per', 'decade'), refused(/^per: unknown value 'decade'/));
      await assert.rejects(run('report', 'events', '--org', org, '--from', '2026-04-01', '--to', '2026-03-31'), refused(/^from: 2026-04-01 is after to/));
      await assert.rejects(run('report', 'events', '--org', org, '--to', '2026-03-31'), refused(/^from: missing/));
      await assert.rejects(run('report', 'status', '--org', org, '--by', 'colour'), refused(/^by: unknown grouping 'colour'/));
    });
  });
}
