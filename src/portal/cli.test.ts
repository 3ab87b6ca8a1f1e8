import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Command } from 'commander';
import { pino } from 'pino';
import { databaseTargets } from '../../test/support/stores.ts';
import { configSchema } from '../config/schema.ts';
import { createDirectoryPart, type Region } from '../directory/index.ts';
import type { PartContext } from '../server/index.ts';
import { createMemoryStore, type Database } from '../store/index.ts';
import { registerPortalCommands } from './cli.ts';
import { PortalRefused } from './errors.ts';
import { seedPortalDemo } from './seed.ts';
import { employeesOf, seedTestRegion } from './testing.ts';

const now = new Date('2026-05-01T09:00:00Z');

for (const target of databaseTargets()) {
  describe(`tillit audit … and tillit portal roles … (${target.name})`, () => {
    let db: Database;
    let region: Region;
    const output: string[] = [];
    const context = (): PartContext => ({ config: configSchema.parse({ dataDir: 'memory://' }), db, ephemeral: createMemoryStore(), log: pino({ level: 'silent' }), now: () => now });
    const run = async (...args: string[]) => {
      output.length = 0;
      const program = new Command('tillit').exitOverride().configureOutput({ writeErr: () => {}, writeOut: () => {} });
      registerPortalCommands(program, async () => ({ ...context(), close: async () => {} }), (s) => output.push(s));
      await program.parseAsync(['node', 'tillit', ...args]);
      return output.join('');
    };
    before(async () => {
      db = await target.open();
      region = await seedTestRegion(db, now);
    });
    after(async () => {
      await db.close();
    });

    it('appoints, lists and removes roles, and verifies and exports the trail they left', async () => {
      const org = region.organisations[0]!.hsaId;
      const [issuer, admin] = employeesOf(region, org);
      assert.match(await run('portal', 'roles', 'add', '--holder', issuer!.hsaId, '--role', 'responsible-issuer', '--organisation', org, '--operator', 'ops'), /^assignment \d+: .* is responsible-issuer for /);
      assert.match(await run('portal', 'roles', 'add', '--holder', admin!.hsaId, '--role', 'id-administrator', '--organisation', org, '--operator', 'ops'), /without a training date/);
      const listed = JSON.parse(await run('portal', 'roles', 'list', '--organisation', org, '--json')) as { id: number; role: string }[];
      assert.deepEqual(listed.map((a) => a.role).sort(), ['id-administrator', 'responsible-issuer']);
      const adminId = listed.find((a) => a.role === 'id-administrator')!.id;
      assert.match(await run('portal', 'roles', 'training', String(adminId), '--trained-on', '2026-04-01', '--operator', 'ops'), /trained on 2026-04-01/);
      assert.match(await run('portal', 'roles', 'remove', String(adminId), '--operator', 'ops'), /removed/);
      assert.match(await run('audit', 'verify'), /^audit trail intact: 4 entries, head [0-9a-f]{64}\n$/);
      const lines = (await run('audit', 'export', '--from', '2026-05-01', '--to', '2026-05-02')).trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
      assert.deepEqual(lines.map((l) => [l['actor'], l['action']]), [
        ['operator:ops', 'role.appoint'],
        ['operator:ops', 'role.appoint'],
        ['operator:ops', 'role.training'],
        ['operator:ops', 'role.remove'],
      ]);
      assert.equal(lines[1]!['hash'], lines[2]!['previousHash']);
      assert.equal(await run('audit', 'export', '--from', '2026-05-02'), '');
    });

    it('refuses bad input with a reason', async () => {
      await assert.rejects(run('portal', 'roles', 'add', '--holder', 'x', '--role', 'king', '--organisation', 'y'), /Allowed choices are id-administrator/);
      await assert.rejects(run('portal', 'roles', 'remove', '0'), /expected an assignment id/);
      await assert.rejects(run('audit', 'export', '--from', 'yesterday'), /expected a date or time/);
      await assert.rejects(run('portal', 'roles', 'remove', '9999'), (e) => e instanceof PortalRefused && /no current role assignment 9999/.test(e.message));
    });

    it('fails verify, naming the entry, when the chain is broken', async () => {
      await db.exec('alter table portal_audit disable trigger portal_audit_no_update_or_delete');
      await db.query(`update portal_audit set actor = 'someone' where seq = 3`);
      await db.exec('alter table portal_audit enable trigger portal_audit_no_update_or_delete');
      await assert.rejects(run('audit', 'verify'), (e) => e instanceof PortalRefused && /audit trail broken at entry 3: entry 3 was changed/.test(e.message));
    });

    it('the demo seed names a responsible issuer and a trained ID administrator, once', async () => {
      const fresh = await target.open();
      try {
        const ctx = { ...context(), db: fresh };
        await (await createDirectoryPart(ctx, new Map())).seedDemo!();
        const lines = await seedPortalDemo(ctx);
        assert.match(lines.join('\n'), /responsible issuer: .*HSA-id (SE\S+)\n.*ID administrator .*HSA-id SE\S+/);
        await seedPortalDemo(ctx);
        const [{ n }] = (await fresh.query<{ n: number }>('select count(*) as n from portal_role_assignment')) as [{ n: number }];
        assert.equal(n, 3);
      } finally {
        await fresh.close();
      }
    });
  });
}
