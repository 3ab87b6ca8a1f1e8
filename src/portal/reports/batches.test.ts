import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { databaseTargets } from '../../../test/support/stores.ts';
import type { Database, Queryable } from '../../store/index.ts';

/**
 * The report summaries are kept per statement (migration 0677). A statement
 * writing many credentials must count each exactly as one statement per
 * credential does; reports.test.ts checks the latter against counts of its own.
 */
for (const target of databaseTargets()) {
  describe(`report summaries of many rows in one statement (${target.name})`, () => {
    let db: Database;
    before(async () => {
      db = await target.open();
    });
    after(() => db.close());

    /** Every summary and event of `organisation`, with the organisation and ids left out, in a fixed order. */
    async function summaries(organisation: string) {
      const status = await db.query(
        `select unit_hsa_id, credential_type, loa, status, reason, count::int from portal_report_status where organisation_hsa_id = $1 order by 1, 2, 3, 4, 5`,
        [organisation],
      );
      const days = await db.query(
        `select to_char(day, 'YYYY-MM-DD') as day, unit_hsa_id, credential_type, loa, event, reason, count::int from portal_report_event_day where organisation_hsa_id = $1 order by 1, 2, 3, 4, 5, 6`,
        [organisation],
      );
      const months = await db.query(
        `select to_char(month, 'YYYY-MM') as month, unit_hsa_id, credential_type, loa, event, reason, count::int from portal_report_event_month where organisation_hsa_id = $1 order by 1, 2, 3, 4, 5, 6`,
        [organisation],
      );
      const events = await db.query(
        `select at, unit_hsa_id, credential_type, loa, event, reason, personnummer, subject_hsa_id from portal_report_event where organisation_hsa_id = $1 order by 1, 2, 3, 4, 5, 6, 7, 8`,
        [organisation],
      );
      return { status, days, months, events };
    }

    it('counts a statement of many cards and function certificates as one statement per row would', async () => {
      const setWise = 'SE1-BATCH';
      const rowWise = 'SE1-ROWS';
      const cards = Array.from({ length: 24 }, (_, i) => ({
        i,
        kind: i % 5 === 4 ? 'test' : 'ordinary',
        loa: i % 5 === 4 ? null : 3,
        unit: i % 3 === 0 ? null : `-U${i % 3}`,
        status: i % 4 === 3 ? 'awaiting-confirmation' : 'ordered',
      }));
      const ids: Record<string, number[]> = {};
      /** Runs `sql` once over all of the organisation's `rows` (set-wise) or once per row, both in the same transaction (same now()). */
      const both = (sql: (tx: Queryable, organisation: string, rows: number[]) => Promise<unknown>) =>
        db.transaction(async (tx) => {
          await sql(tx, setWise, ids[setWise]!);
          for (const row of ids[rowWise]!) await sql(tx, rowWise, [row]);
        });
      const insertCards = (tx: Queryable, organisation: string, of: typeof cards) =>
        tx.query<{ id: number }>(
          `insert into portal_card (kind, loa, personnummer, holder_hsa_id, organisation_hsa_id, unit_hsa_id, status, ordered_by, ordered_at, updated_at)
           select c.kind, c.loa, '19700101' || lpad(c.i::text, 4, '0'), $1 || '-H' || c.i, $1, $1 || c.unit, c.status, 't', timestamptz '2026-03-31T12:00:00Z' + c.i * interval '1 hour', now()
             from jsonb_to_recordset($2::jsonb) as c (i int, kind text, loa smallint, unit text, status text) order by c.i returning id`,
          [organisation, JSON.stringify(of)],
        );
      await db.transaction(async (tx) => {
        ids[setWise] = (await insertCards(tx, setWise, cards)).map((r) => r.id);
        ids[rowWise] = [];
        for (const card of cards) ids[rowWise].push(...(await insertCards(tx, rowWise, [card])).map((r) => r.id));
      });
      /** The card's place in `cards` (its ids differ between the organisations). */
      const nth = 'right(personnummer, 4)::int';
      const byStatus = (rows: number[], status: string) => `select id from portal_card where id = any('{${rows.join(',')}}'::bigint[]) and status = '${status}'`;
      // Confirmed, to production, produced, half of them activated, then some of those revoked (the request first, as the portal does).
      await both((tx, _, rows) => tx.query(`update portal_card set status = 'in-production', updated_at = timestamptz '2026-04-02T08:00:00Z' where id in (${byStatus(rows, 'ordered')})`));
      await both((tx, _, rows) => tx.query(`update portal_card set status = 'sent', updated_at = timestamptz '2026-04-03T08:00:00Z' where id in (${byStatus(rows, 'in-production')})`));
      await both((tx, _, rows) => tx.query(`update portal_card set status = 'active', updated_at = timestamptz '2026-04-04T08:00:00Z' where id in (${byStatus(rows, 'sent')}) and ${nth} % 2 = 0`));
      await both(async (tx, _, rows) => {
        await tx.query(
          `insert into portal_revocation (card_id, personnummer, serials, reported_by, channel, received_at, registered_at, reason, received_by, keep_until)
           select id, personnummer, '{}', 'test', 'phone', timestamptz '2026-04-05T08:00:00Z', timestamptz '2026-04-05T08:00:00Z', case when ${nth} % 3 = 0 then 'lost' else 'stolen' end, 't', timestamptz '2036-04-05'
             from portal_card where id in (${byStatus(rows, 'active')}) and ${nth} % 4 = 0`,
        );
        await tx.query(`update portal_card c set status = 'revoked', updated_at = timestamptz '2026-04-05T08:00:00Z' where id in (select card_id from portal_revocation where card_id = any($1::bigint[]))`, [rows]);
      });
      // Cards moved between units both ways in one statement: their counts cancel out in part.
      await both((tx, organisation, rows) =>
        tx.query(`update portal_card set unit_hsa_id = case when unit_hsa_id = $1 || '-U1' then $1 || '-U2' when unit_hsa_id = $1 || '-U2' then $1 || '-U1' else unit_hsa_id end where id = any($2::bigint[]) and unit_hsa_id is not null`, [organisation, rows]),
      );
      // Not counted: no summary moves, no event.
      await both((tx, _, rows) => tx.query(`update portal_card set certificates_not_after = timestamptz '2029-04-03' where id = any($1::bigint[]) and status in ('sent', 'active', 'revoked')`, [rows]));
      await both((tx, _, rows) => tx.query(`delete from portal_card where id in (${byStatus(rows, 'awaiting-confirmation')})`));

      await db.transaction(async (tx) => {
        for (const [organisation, statements] of [[setWise, [[0, 1, 2, 3, 4, 5]]], [rowWise, [[0], [1], [2], [3], [4], [5]]]] as const) {
          for (const numbers of statements) {
            await tx.query(
              `insert into portal_function_certificate (serial, function_object_hsa_id, organisation_hsa_id, profile, certificate_pem, chain_pem, dns_names, not_after, ordered_by, ordered_at)
               select lower($1) || '-' || n, $1 || '-F' || n, $1, 'function-server', 'x', 'x', '{}', timestamptz '2027-04-01', 't', timestamptz '2026-04-01T10:00:00Z' + n * interval '1 day' from unnest($2::int[]) n`,
              [organisation, numbers],
            );
          }
        }
      });
      await db.transaction(async (tx) => {
        for (const [organisation, statements] of [[setWise, [[1, 2, 4]]], [rowWise, [[1], [2], [4]]]] as const) {
          for (const numbers of statements) {
            await tx.query(
              `update portal_function_certificate set revoked_at = timestamptz '2026-04-20T10:00:00Z', revoked_by = 't', revocation_reason = case when serial like '%1' then 'superseded' else 'keyCompromise' end
                where serial = any(select lower($1) || '-' || n from unnest($2::int[]) n)`,
              [organisation, numbers],
            );
          }
          // Not counted: a second revocation of a revoked certificate, and a fetch.
          await tx.query(`update portal_function_certificate set revocation_reason = 'superseded' where organisation_hsa_id = $1 and serial like '%2'`, [organisation]);
          await tx.query(`update portal_function_certificate set fetched_at = now() where organisation_hsa_id = $1`, [organisation]);
        }
      });

      const expected = await summaries(rowWise);
      const actual = await summaries(setWise);
      const named = (value: unknown) => JSON.parse(JSON.stringify(value).replaceAll(setWise, 'ORG').replaceAll(rowWise, 'ORG'));
      assert.deepEqual(named(actual), named(expected));
      // What both say, in part: 24 cards ordered (over two days in two months), 6 deleted, 3 certificates revoked of 6.
      const days = (expected.days as { event: string; count: number }[]);
      const total = (event: string) => days.filter((d) => d.event === event).reduce((sum, d) => sum + d.count, 0);
      assert.deepEqual([total('ordered'), total('deleted'), total('in-production'), total('issued'), total('revoked') > 3], [24, 6, 18, 6, true]);
      const status = expected.status as { credential_type: string; status: string; count: number }[];
      const count = (type: string, state: string) => status.filter((s) => s.credential_type === type && s.status === state).reduce((sum, s) => sum + s.count, 0);
      assert.deepEqual([count('function-certificate', 'active'), count('function-certificate', 'revoked'), count('ordinary-card', 'awaiting-confirmation')], [3, 3, 0]);
    });

    it('lets two transactions add many cards to the same summary rows at once, each statement taking them in its own order', { skip: target.name === 'pglite' && 'one connection: transactions take turns' }, async () => {
      const organisation = 'SE1-CONCURRENT';
      const units = 8;
      const perTransaction = 2000;
      const first = `${organisation}-U0`;
      const last = `${organisation}-U${units - 1}`;
      // The summary rows exist already, so this test can hold the first and the last while both transactions start.
      await db.query(
        `insert into portal_report_status (organisation_hsa_id, unit_hsa_id, credential_type, loa, status, reason, count)
         select $1, $1 || '-U' || u, 'ordinary-card', 3, 'ordered', null, 0 from generate_series(0, $2::int - 1) u`,
        [organisation, units],
      );
      let release!: () => void;
      const released = new Promise<void>((resolve) => (release = resolve));
      let held!: () => void;
      const holding = new Promise<void>((resolve) => (held = resolve));
      const holder = db.transaction(async (tx) => {
        await tx.query(`select 1 from portal_report_status where organisation_hsa_id = $1 and unit_hsa_id in ($2, $3) for update`, [organisation, first, last]);
        held();
        await released;
      });
      await holding;
      const backends: number[] = [];
      /** One statement of cards unit by unit (from the first up, or from the last down), then one statement sending them to production. */
      const load = (prefix: string, descending: boolean) =>
        db.transaction(async (tx) => {
          const [backend] = await tx.query<{ pid: number }>('select pg_backend_pid() as pid');
          backends.push(backend!.pid);
          await tx.query(
            `insert into portal_card (kind, loa, personnummer, holder_hsa_id, organisation_hsa_id, unit_hsa_id, status, ordered_by, ordered_at, updated_at)
             select 'ordinary', 3, (197000000000 + g)::text, $1 || g, $2, $2 || '-U' || case when $4 then $3 - 1 - g * $3 / $5 else g * $3 / $5 end, 'ordered', 't', timestamptz '2026-04-01T10:00:00Z', timestamptz '2026-04-01T10:00:00Z'
               from generate_series(0, $5::int - 1) g`,
            [prefix, organisation, units, descending, perTransaction],
          );
          await tx.query(`update portal_card set status = 'in-production', updated_at = timestamptz '2026-04-02T10:00:00Z' where holder_hsa_id like $1 || '%'`, [prefix]);
        });
      const loading = Promise.allSettled([load('SE1-A', false), load('SE1-B', true)]);
      // Both statements wait for the held rows, so they then run side by side. (Counted row by row, the first takes the units' rows from the first up and the second from the last down, and they meet in a deadlock.)
      const waiting = async () => {
        const [row] = await db.query<{ n: number }>('select count(*)::int as n from unnest($1::int[]) p where cardinality(pg_blocking_pids(p)) > 0', [backends]);
        return backends.length === 2 && row!.n === 2;
      };
      try {
        for (let tries = 0; !(await waiting()); tries++) {
          assert.ok(tries < 500, 'both transactions wait for the held summary rows');
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
      } finally {
        release();
        await holder;
      }
      const outcomes = await loading;
      assert.deepEqual(outcomes.map((o) => (o.status === 'rejected' ? String(o.reason) : o.status)), ['fulfilled', 'fulfilled']);
      const each = (2 * perTransaction) / units;
      const status = await db.query<{ unit: string; status: string; count: number }>(
        `select unit_hsa_id as unit, status, count::int from portal_report_status where organisation_hsa_id = $1 order by 1, 2`,
        [organisation],
      );
      assert.deepEqual(status, Array.from({ length: units }, (_, u) => [{ unit: `${organisation}-U${u}`, status: 'in-production', count: each }, { unit: `${organisation}-U${u}`, status: 'ordered', count: 0 }]).flat());
      const days = await db.query<{ unit: string; event: string; count: number }>(
        `select unit_hsa_id as unit, event, count::int from portal_report_event_day where organisation_hsa_id = $1 order by 1, 2`,
        [organisation],
      );
      assert.deepEqual(days, Array.from({ length: units }, (_, u) => [{ unit: `${organisation}-U${u}`, event: 'in-production', count: each }, { unit: `${organisation}-U${u}`, event: 'ordered', count: each }]).flat());
    });
  });
}
