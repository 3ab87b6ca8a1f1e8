import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { databaseTargets } from '../../test/support/stores.ts';
import type { Database } from '../store/index.ts';
import { eidCertificatesIssued, eidIssueSettledBefore, type IssuePosition } from './certificates.ts';

for (const target of databaseTargets()) {
  describe(`eID certificates in the order of issue (${target.name})`, () => {
    let db: Database;
    before(async () => {
      db = await target.open();
      // Only the rows matter here, not the CAs' keys.
      for (const id of ['person-hsa-loa3', 'function']) {
        await db.query(`insert into pki_cas (id, algorithm, certificate_der, encrypted_key_pem) values ($1, 'ecdsa-p256', '\\x00', '')`, [id]);
      }
    });
    after(() => db.close());

    const insert = (serial: string, issuedAt: string, caId = 'person-hsa-loa3', profile = 'person-auth-hsa-loa3') =>
      db.query(
        `insert into pki_certificates (serial, ca_id, profile, subject, identifier, not_before, not_after, der, issued_at, revoked_at, on_hold)
         values ($1, $2, $3, 'CN=x', $1, now() - interval '1 day', now() + interval '1 year', '\\x00', $4, case when $1 like 'held%' then now() end, $1 like 'held%')`,
        [serial, caId, profile, issuedAt],
      );

    it('pages through eID certificates by issue time to the microsecond, then serial, each once, whatever their state', async () => {
      await insert('b2', '2026-03-01T10:00:00.000002Z');
      await insert('a1', '2026-03-01T10:00:00.000001Z');
      await insert('held9', '2026-03-01T10:00:00.000001Z');
      await insert('c3', '2026-03-01T10:00:00.000002Z');
      await insert('f0', '2026-03-01T10:00:00.000001Z', 'function', 'function-server');
      await insert('d4', '2026-03-01T10:00:01Z');
      const seen: string[] = [];
      for (let position: IssuePosition | null = null; ; ) {
        const page = await eidCertificatesIssued(db, { after: position, limit: 2 });
        if (page.length === 0) break;
        seen.push(...page.map((c) => c.serial));
        position = page.at(-1)!.position;
      }
      assert.deepEqual(seen, ['a1', 'held9', 'b2', 'c3', 'd4'], 'microseconds kept across pages; not the function certificate');
      const [held] = await eidCertificatesIssued(db, { serials: ['held9'] });
      assert.deepEqual([held!.onHold, held!.revokedAt !== null, held!.position], [true, true, { issuedAt: '2026-03-01T10:00:00.000001Z', serial: 'held9' }]);
      assert.deepEqual((await eidCertificatesIssued(db, { before: '2026-03-01T10:00:00.000002Z' })).map((c) => c.serial), ['a1', 'held9']);
      assert.deepEqual((await eidCertificatesIssued(db, { after: { issuedAt: '2026-03-01T10:00:00.000002Z', serial: 'b2' } })).map((c) => c.serial), ['c3', 'd4']);
    });

    it('settles issue times a minute back, or before the oldest open transaction that writes certificates', async () => {
      const [{ now }] = (await db.query<{ now: Date }>('select now() as now')) as [{ now: Date }];
      const settled = new Date(await eidIssueSettledBefore(db));
      assert.ok(settled.getTime() <= now.getTime() - 59_000 && settled.getTime() > now.getTime() - 120_000, settled.toISOString());
      if (target.name === 'pglite') return; // one connection: no other transaction to wait for
      let release!: () => void;
      const held = new Promise<void>((resolve) => (release = resolve));
      let inserted!: () => void;
      const written = new Promise<void>((resolve) => (inserted = resolve));
      const writing = db.transaction(async (tx) => {
        await tx.query(`insert into pki_certificates (serial, ca_id, profile, subject, not_before, not_after, der) values ('open1', 'person-hsa-loa3', 'person-auth-hsa-loa3', 'CN=x', now(), now(), '\\x00')`);
        inserted();
        await held;
      });
      await written;
      const [{ start }] = (await db.query<{ start: Date }>(
        `select a.xact_start as start from pg_locks l join pg_stat_activity a on a.pid = l.pid where l.relation = 'pki_certificates'::regclass and l.mode = 'RowExclusiveLock'`,
      )) as [{ start: Date }];
      const beforeOpen = new Date(await eidIssueSettledBefore(db, 0));
      assert.ok(beforeOpen.getTime() <= start.getTime() && start.getTime() < Date.now(), `${beforeOpen.toISOString()}: not after the open transaction began`);
      release();
      await writing;
      assert.ok(new Date(await eidIssueSettledBefore(db, 0)).getTime() > start.getTime(), 'committed: no longer waited for');
    });
  });
}
