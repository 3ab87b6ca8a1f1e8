import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { databaseTargets } from '../../test/support/stores.ts';
import type { Database } from '../store/index.ts';
import { appendAudit, canonicalJson, GENESIS_HASH, readAudit, verifyAudit, type AuditEvent } from './audit.ts';

const event = (action: string, after: unknown, before: unknown = null): AuditEvent => ({
  actor: 'SE2321000016-A001',
  role: 'id-administrator',
  organisation: 'SE2321000016-0001',
  action,
  target: 'order-1',
  before,
  after,
});

describe('canonical JSON', () => {
  it('sorts keys at every level and keeps arrays in order', () => {
    assert.equal(canonicalJson({ b: 1, a: { d: [2, { z: 1, y: null }], c: 'x' } }), '{"a":{"c":"x","d":[2,{"y":null,"z":1}]},"b":1}');
  });
});

for (const target of databaseTargets()) {
  describe(`audit trail (${target.name})`, () => {
    let db: Database;
    before(async () => {
      db = await target.open();
    });
    after(async () => {
      await db.close();
    });

    it('chains entries written inside the change’s transaction, and a rolled-back change leaves no entry', async () => {
      const t0 = new Date('2026-03-01T10:00:00.123Z');
      const first = await db.transaction((tx) => appendAudit(tx, event('order.create', { status: 'ordered', when: t0, nested: { z: 1, a: 2 } }), t0));
      assert.equal(first.seq, 1);
      assert.equal(first.previousHash, GENESIS_HASH);
      await assert.rejects(
        db.transaction(async (tx) => {
          await appendAudit(tx, event('order.withdraw', { status: 'withdrawn' }), t0);
          throw new Error('the change failed');
        }),
        /the change failed/,
      );
      const second = await db.transaction((tx) => appendAudit(tx, event('order.withdraw', { status: 'withdrawn' }, { status: 'ordered' }), new Date('2026-03-01T10:05:00Z')));
      assert.equal(second.seq, 2, 'the rolled-back entry took no number');
      assert.equal(second.previousHash, first.hash);
      const entries = [];
      for await (const entry of readAudit(db)) entries.push(entry);
      assert.deepEqual(entries.map((e) => e.action), ['order.create', 'order.withdraw']);
      assert.deepEqual(entries[0]!.after, { status: 'ordered', when: t0.toISOString(), nested: { a: 2, z: 1 } });
      assert.equal(entries[0]!.at.toISOString(), t0.toISOString());
      const verified = await verifyAudit(db);
      assert.deepEqual(verified, { ok: true, entries: 2, head: second.hash });
    });

    it('refuses UPDATE, DELETE and TRUNCATE', async () => {
      await assert.rejects(db.query(`update portal_audit set actor = 'someone else' where seq = 1`), /append-only: UPDATE refused/);
      await assert.rejects(db.query('delete from portal_audit where seq = 2'), /append-only: DELETE refused/);
      await assert.rejects(db.query('truncate portal_audit'), /append-only: TRUNCATE refused/);
      assert.equal((await verifyAudit(db)).ok, true);
    });

    it('reads a period by time, paging through the chain', async () => {
      for (let i = 0; i < 5; i++) await db.transaction((tx) => appendAudit(tx, event('card.activate', { i }), new Date(Date.UTC(2026, 3, 1 + i))));
      const april = [];
      for await (const entry of readAudit(db, { from: new Date('2026-04-02T00:00:00Z'), to: new Date('2026-04-04T00:00:00Z') }, 1)) april.push(entry.after);
      assert.deepEqual(april, [{ i: 1 }, { i: 2 }]);
    });

    it('never lets time run backwards along the chain', async () => {
      const entry = await db.transaction((tx) => appendAudit(tx, event('card.unlock', {}), new Date('2020-01-01T00:00:00Z')));
      assert.equal(entry.at.toISOString(), '2026-04-05T00:00:00.000Z');
    });

    // Someone with the table owner's rights can switch the trigger off; the chain still shows what they did.
    it('detects a row changed behind the trigger’s back, and a row removed', async () => {
      await db.exec('alter table portal_audit disable trigger portal_audit_no_update_or_delete');
      try {
        await db.query(`update portal_audit set after = '{"status": "active"}' where seq = 2`);
        assert.deepEqual(await verifyAudit(db), { ok: false, entries: 1, brokenAt: 2, problem: 'entry 2 was changed after it was written (its hash does not match its content)' });
        await db.query('delete from portal_audit where seq = 2');
        const verified = await verifyAudit(db);
        assert.equal(verified.ok, false);
        assert.match(verified.ok ? '' : verified.problem, /entry 2 is missing/);
      } finally {
        await db.exec('alter table portal_audit enable trigger portal_audit_no_update_or_delete');
      }
    });
  });
}
