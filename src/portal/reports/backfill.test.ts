import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { databaseTargets } from '../../../test/support/stores.ts';
import { migrate, readMigrations } from '../../store/index.ts';

/** An installation upgraded to the reports: the history and the summaries are filled from the rows already there. */
for (const target of databaseTargets()) {
  describe(`migrations 0670 and 0671 backfill the report tables (${target.name})`, () => {
    it('writes the events the existing cards and function certificates imply, and the summaries that count them', async () => {
      const db = await target.open({ migrated: false });
      try {
        const all = await readMigrations();
        await migrate(db, all.filter((m) => m.name < '0670'));
        const card = (status: string, extra: string, values: unknown[]) =>
          db.query<{ id: number }>(
            `insert into portal_card (kind, loa, personnummer, holder_hsa_id, organisation_hsa_id, unit_hsa_id, status, ordered_by, ordered_at, updated_at${extra ? `, ${extra}` : ''})
             values ('ordinary', 3, '195001011234', 'SE1-H' || $1, 'SE1-ORG', 'SE1-U', '${status}', 't', '2026-01-05T10:00:00Z', '2026-03-01T10:00:00Z'${values.map((_, i) => `, $${i + 2}`).join('')}) returning id`,
            [Math.random().toString(36).slice(2, 8).toUpperCase(), ...values],
          );
        await card('ordered', '', []);
        await card('active', 'activated_at', ['2026-02-01T10:00:00Z']);
        await card('withdrawn', 'withdrawn_at', ['2026-01-06T10:00:00Z']);
        const [revoked] = await card('revoked', 'activated_at', ['2026-02-01T10:00:00Z']);
        await db.query(
          `insert into portal_revocation (card_id, personnummer, serials, reported_by, channel, received_at, registered_at, reason, received_by, keep_until)
           values ($1, '195001011234', '{}', 'x', 'phone', '2026-03-01T09:00:00Z', '2026-03-01T10:00:00Z', 'stolen', 't', '2036-03-01')`,
          [revoked!.id],
        );
        await db.query(
          `insert into portal_function_certificate (serial, function_object_hsa_id, organisation_hsa_id, profile, certificate_pem, chain_pem, dns_names, not_after, ordered_by, ordered_at, revoked_at, revoked_by, revocation_reason)
           values ('aa', 'SE1-F1', 'SE1-ORG', 'function-server', 'x', 'x', '{}', '2027-01-01', 't', '2026-01-10T10:00:00Z', '2026-02-10T10:00:00Z', 't', 'superseded')`,
        );
        await migrate(db, all);
        const events = await db.query<{ event: string; reason: string | null; n: number }>(`select event, reason, count(*)::int as n from portal_report_event group by 1, 2 order by 1, 2`);
        assert.deepEqual(events, [
          { event: 'activated', reason: null, n: 2 },
          { event: 'issued', reason: null, n: 1 },
          { event: 'ordered', reason: null, n: 4 },
          { event: 'revoked', reason: 'stolen', n: 1 },
          { event: 'revoked', reason: 'superseded', n: 1 },
          { event: 'withdrawn', reason: null, n: 1 },
        ]);
        const days = await db.query<{ n: number }>(`select sum(count)::int as n from portal_report_event_day`);
        assert.equal(days[0]!.n, 10);
        const months = await db.query<{ month: string; n: number }>(`select to_char(month, 'YYYY-MM') as month, sum(count)::int as n from portal_report_event_month group by 1 order by 1`);
        assert.deepEqual(months, [
          { month: '2026-01', n: 6 },
          { month: '2026-02', n: 3 },
          { month: '2026-03', n: 1 },
        ]);
        const status = await db.query<{ type: string; status: string; reason: string | null; count: number }>(
          `select credential_type as type, status, reason, count::int from portal_report_status order by 1, 2`,
        );
        assert.deepEqual(status, [
          { type: 'function-certificate', status: 'revoked', reason: 'superseded', count: 1 },
          { type: 'ordinary-card', status: 'active', reason: null, count: 1 },
          { type: 'ordinary-card', status: 'ordered', reason: null, count: 1 },
          { type: 'ordinary-card', status: 'revoked', reason: 'stolen', count: 1 },
          { type: 'ordinary-card', status: 'withdrawn', reason: null, count: 1 },
        ]);
      } finally {
        await db.close();
      }
    });
  });
}
