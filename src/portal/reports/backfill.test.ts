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

/** An installation upgraded to mobile eIDs and card expiry in the reports: the eIDs and cards already there are placed and dated. */
for (const target of databaseTargets()) {
  describe(`migrations 0311 and 0675 place existing mobile eIDs and date existing cards' expiry (${target.name})`, () => {
    it('places each mobile eID once per organisation its holder works in now, and gives each card its last certificate’s end', async () => {
      const db = await target.open({ migrated: false });
      try {
        const all = await readMigrations();
        const later = (name: string) => name.startsWith('0311_') || name >= '0675';
        await migrate(db, all.filter((m) => !later(m.name)));
        await db.transaction(async (tx) => {
          await tx.query(`insert into directory_organisation (hsa_id, organisation_number, name, care_provider, valid_from, updated_at)
                          values ('SE1-A', '5500000001', 'A', true, now(), now()), ('SE1-B', '5500000002', 'B', true, now(), now())`);
          await tx.query(`insert into directory_unit (hsa_id, organisation_hsa_id, name, care_unit, valid_from, updated_at)
                          values ('SE1-AU', 'SE1-A', 'AU', true, now(), now()), ('SE1-BU', 'SE1-B', 'BU', true, now(), now())`);
          const [worker] = await tx.query<{ id: number }>(`insert into directory_person (personnummer, created_at, updated_at) values ('195001011234', now(), now()) returning id`);
          const [gone] = await tx.query<{ id: number }>(`insert into directory_person (personnummer, created_at, updated_at) values ('196002022345', now(), now()) returning id`);
          // Two current identities in A (the lowest HSA-id is the place), one in B, one ended in B that must not count.
          await tx.query(
            `insert into directory_service_identity (hsa_id, person_id, organisation_hsa_id, unit_hsa_id, valid_from, valid_to, updated_at)
             values ('SE1-A2', $1, 'SE1-A', null, now(), null, now()), ('SE1-A1', $1, 'SE1-A', 'SE1-AU', now(), null, now()),
                    ('SE1-B1', $1, 'SE1-B', 'SE1-BU', now(), null, now()), ('SE1-B9', $2, 'SE1-B', 'SE1-BU', now() - interval '2 years', now() - interval '1 year', now())`,
            [worker!.id, gone!.id],
          );
          await tx.query(`insert into pki_cas (id, algorithm, certificate_der, encrypted_key_pem) values ('mobile', 't', '\\x00', 'x'), ('person-hsa-loa3', 't', '\\x00', 'x')`);
          await tx.query(
            `insert into pki_certificates (serial, ca_id, profile, subject, not_before, not_after, der) values
               ('m1', 'mobile', 'mobile', 'x', '2026-01-01', '2028-01-01', '\\x00'), ('m2', 'mobile', 'mobile', 'x', '2026-01-01', '2028-01-01', '\\x00'),
               ('c1', 'person-hsa-loa3', 'person-auth-hsa-loa3', 'x', '2026-01-01', '2030-03-01', '\\x00'), ('c2', 'person-hsa-loa3', 'person-sign-hsa-loa3', 'x', '2026-01-01', '2031-04-01', '\\x00')`,
          );
          for (const [serial, personnummer] of [['m1', '195001011234'], ['m2', '196002022345']]) {
            await tx.query(`insert into authn_enrolment_codes (code_hash, personnummer, requested_by, created_at, expires_at) values (convert_to($1, 'UTF8'), $2, 't', now(), now())`, [serial, personnummer]);
            await tx.query(`insert into authn_mobile_eids (serial, personnummer, enrolled_at, not_after, enrolment_code_hash) values ($1, $2, now(), '2028-01-01', convert_to($1, 'UTF8'))`, [serial, personnummer]);
          }
          const [card] = await tx.query<{ id: number }>(
            `insert into portal_card (kind, loa, personnummer, holder_hsa_id, organisation_hsa_id, status, ordered_by, ordered_at, updated_at)
             values ('ordinary', 3, '195001011234', 'SE1-A1', 'SE1-A', 'active', 't', now(), now()) returning id`,
          );
          await tx.query(`insert into portal_card (kind, loa, personnummer, holder_hsa_id, organisation_hsa_id, status, ordered_by, ordered_at, updated_at) values ('ordinary', 3, '195001011234', 'SE1-A2', 'SE1-A', 'ordered', 't', now(), now())`);
          await tx.query(`insert into portal_card_certificate (card_id, slot, serial, profile) values ($1, 'auth-hsa', 'c1', 'person-auth-hsa-loa3'), ($1, 'sign-hsa', 'c2', 'person-sign-hsa-loa3')`, [card!.id]);
        });
        await migrate(db, all);
        const places = await db.query<{ serial: string; organisation_hsa_id: string; unit_hsa_id: string | null; holder_hsa_id: string }>(
          'select serial, organisation_hsa_id, unit_hsa_id, holder_hsa_id from authn_mobile_eid_report order by serial, organisation_hsa_id',
        );
        assert.deepEqual(places, [
          { serial: 'm1', organisation_hsa_id: 'SE1-A', unit_hsa_id: 'SE1-AU', holder_hsa_id: 'SE1-A1' },
          { serial: 'm1', organisation_hsa_id: 'SE1-B', unit_hsa_id: 'SE1-BU', holder_hsa_id: 'SE1-B1' },
        ]);
        const cards = await db.query<{ status: string; ends: string | null }>(`select status, to_char(certificates_not_after at time zone 'UTC', 'YYYY-MM-DD') as ends from portal_card order by id`);
        assert.deepEqual(cards, [
          { status: 'active', ends: '2031-04-01' },
          { status: 'ordered', ends: null },
        ]);
      } finally {
        await db.close();
      }
    });
  });
}
