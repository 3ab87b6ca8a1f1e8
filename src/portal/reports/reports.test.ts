import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { databaseTargets } from '../../../test/support/stores.ts';
import type { Region } from '../../directory/index.ts';
import type { Database, Queryable } from '../../store/index.ts';
import { loadActor, type Principal } from '../access.ts';
import type { CardContext } from '../cards/context.ts';
import { deleteUnfinishedOrder, orderCard, withdrawOrder } from '../cards/orders.ts';
import { PortalRefused } from '../errors.ts';
import { appointRole } from '../role-store.ts';
import type { Role } from '../roles.ts';
import { employeesOf, seedTestRegion } from '../testing.ts';
import { loadConfig } from '../../config/index.ts';
import { barChart, barsOf } from './chart.ts';
import { csvCell, toCsv } from './csv.ts';
import { parseEventRequest, parseStatusRequest, type RawParameters } from './parameters.ts';
import { runReport, type Report } from './report.ts';

const now = new Date('2026-05-01T09:00:00Z');
const refused = (kind: PortalRefused['kind'], pattern: RegExp) => (error: unknown) => {
  assert.ok(error instanceof PortalRefused, `expected PortalRefused, got ${String(error)}`);
  assert.equal(error.kind, kind, error.message);
  assert.match(error.message, pattern);
  return true;
};

/** What the test itself wrote: the expected answers are computed from these, not from the report code. */
interface Written {
  at: Date;
  organisation: string;
  unit: string | null;
  type: string;
  loa: number | null;
  event: string;
  reason: string | null;
}
interface Credential {
  organisation: string;
  unit: string | null;
  type: string;
  loa: number | null;
  status: string;
  reason: string | null;
  personnummer: string | null;
}

const stockholmDay = (at: Date) => new Intl.DateTimeFormat('sv-SE', { timeZone: 'Europe/Stockholm', year: 'numeric', month: '2-digit', day: '2-digit' }).format(at);
/** ISO week, by the ordinal-day rule (week = (ordinal - weekday + 10) / 7), independent of the code under test. */
function isoWeek(day: string): string {
  const [y, m, d] = day.split('-').map(Number) as [number, number, number];
  const ordinal = (Date.UTC(y, m - 1, d) - Date.UTC(y, 0, 1)) / 86_400_000 + 1;
  const weekday = ((new Date(Date.UTC(y, m - 1, d)).getUTCDay() + 6) % 7) + 1;
  let week = Math.floor((ordinal - weekday + 10) / 7);
  let year = y;
  const weeksIn = (yr: number) => {
    const p = (n: number) => (n + Math.floor(n / 4) - Math.floor(n / 100) + Math.floor(n / 400)) % 7;
    return p(yr) === 4 || p(yr - 1) === 3 ? 53 : 52;
  };
  if (week < 1) week = weeksIn((year -= 1));
  else if (week > weeksIn(y)) [week, year] = [1, y + 1];
  return `${year}-W${String(week).padStart(2, '0')}`;
}
const label = (day: string, per: string) =>
  per === 'week' ? isoWeek(day) : per === 'month' ? day.slice(0, 7) : per === 'quarter' ? `${day.slice(0, 4)}-Q${Math.ceil(Number(day.slice(5, 7)) / 3)}` : day.slice(0, 4);

/** Counts of `items` grouped by `keys`, as a sorted list of "k=v|...|count" strings (order-free comparison). */
function tally<T extends object>(items: readonly T[], keys: readonly string[], key: (item: T, k: string) => unknown): string[] {
  const counts = new Map<string, number>();
  for (const item of items) {
    const id = keys.map((k) => `${k}=${key(item, k) ?? ''}`).join('|');
    counts.set(id, (counts.get(id) ?? 0) + 1);
  }
  return [...counts].map(([id, n]) => `${id}|${n}`).sort();
}
const reportTally = (report: Report) => report.rows.map((r) => `${report.columns.filter((c) => c !== 'count').map((c) => `${c}=${r[c] ?? ''}`).join('|')}|${r['count']}`).sort();

for (const target of databaseTargets()) {
  describe(`reports: status and events per organisation or unit subtree (${target.name})`, () => {
    let db: Database;
    let region: Region;
    let orgA: string;
    let orgB: string;
    let unitWithSubtree: string;
    let subtree: Set<string>;
    const written: Written[] = [];
    const credentials: Credential[] = [];
    const actors: Record<string, Principal> = {};
    let protectedPnr: string;

    /** A deterministic stream of numbers, so a failure repeats. */
    let seed = 20260501;
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const pick = <T>(list: readonly T[]) => list[Math.floor(random() * list.length)]!;
    /** A second stream for certificates' ends and mobile eIDs, so the cards above stay as they were. */
    let seed2 = 20261129;
    const random2 = () => ((seed2 = (seed2 * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const pick2 = <T>(list: readonly T[]) => list[Math.floor(random2() * list.length)]!;

    /** Cards through the same statements the portal's code runs (a revocation request first, then the card marked revoked). */
    async function writeCard(tx: Queryable, organisation: string, unit: string | null, personnummer: string, holder: string, kind: string, loa: number | null, steps: { status: string; at: Date; cause?: string }[], certificatesNotAfter: Date | null = null) {
      const start = steps[0]!;
      const [row] = await tx.query<{ id: number }>(
        `insert into portal_card (kind, loa, personnummer, holder_hsa_id, organisation_hsa_id, unit_hsa_id, status, ordered_by, ordered_at, updated_at)
         values ($1, $2, $3, $4, $5, $6, $7, 'SE1-TEST', $8, $8) returning id`,
        [kind, loa, personnummer, holder, organisation, unit, start.status, start.at],
      );
      const type = `${kind}-card`;
      written.push({ at: start.at, organisation, unit, type, loa, event: 'ordered', reason: null });
      const eventOf: Record<string, string> = { ordered: 'confirmed', 'in-production': 'in-production', sent: 'produced', active: 'activated', revoked: 'revoked', withdrawn: 'withdrawn' };
      for (const step of steps.slice(1)) {
        if (step.status === 'revoked') {
          await tx.query(
            `insert into portal_revocation (card_id, personnummer, serials, reported_by, channel, received_at, registered_at, reason, received_by, keep_until)
             values ($1, $2, '{}', 'test', 'phone', $3, $3, $4, 'SE1-TEST', $3::timestamptz + interval '10 years')`,
            [row!.id, personnummer, step.at, step.cause],
          );
        }
        await tx.query('update portal_card set status = $2, updated_at = $3 where id = $1', [row!.id, step.status, step.at]);
        written.push({ at: step.at, organisation, unit, type, loa, event: eventOf[step.status]!, reason: step.status === 'revoked' ? step.cause! : null });
      }
      const last = steps.at(-1)!;
      let status = last.status;
      if (certificatesNotAfter) {
        // What production records: when the card's last certificate ends. Past it, an active card is expired, and so was one revoked only later.
        await tx.query('update portal_card set certificates_not_after = $2 where id = $1', [row!.id, certificatesNotAfter]);
        if (certificatesNotAfter <= now && (last.status === 'active' || (last.status === 'revoked' && last.at > certificatesNotAfter))) {
          written.push({ at: certificatesNotAfter, organisation, unit, type, loa, event: 'expired', reason: null });
          if (last.status === 'active') status = 'expired';
        }
      }
      credentials.push({ organisation, unit, type, loa, status, reason: last.status === 'revoked' ? last.cause! : null, personnummer });
      return row!.id;
    }

    async function writeFunctionCertificate(organisation: string, serial: string, orderedAt: Date, notAfter: Date, revoked: { at: Date; reason: string } | null) {
      await db.query(
        `insert into portal_function_certificate (serial, function_object_hsa_id, organisation_hsa_id, profile, certificate_pem, chain_pem, dns_names, not_after, ordered_by, ordered_at)
         values ($1, $2, $3, 'function-server', 'x', 'x', '{}', $4, 'SE1-TEST', $5)`,
        [serial, `${organisation}-F${serial}`.slice(0, 31), organisation, notAfter, orderedAt],
      );
      written.push({ at: orderedAt, organisation, unit: null, type: 'function-certificate', loa: null, event: 'issued', reason: null });
      if (revoked) {
        await db.query('update portal_function_certificate set revoked_at = $2, revocation_reason = $3, revoked_by = $4 where serial = $1', [serial, revoked.at, revoked.reason, 'SE1-TEST']);
        written.push({ at: revoked.at, organisation, unit: null, type: 'function-certificate', loa: null, event: 'revoked', reason: revoked.reason });
      }
      const expired = !revoked && notAfter <= now;
      if (notAfter <= now && (!revoked || revoked.at > notAfter)) written.push({ at: notAfter, organisation, unit: null, type: 'function-certificate', loa: null, event: 'expired', reason: null });
      credentials.push({ organisation, unit: null, type: 'function-certificate', loa: null, status: revoked ? 'revoked' : expired ? 'expired' : 'active', reason: revoked?.reason ?? null, personnummer: null });
    }

    /**
     * A mobile eID as enrolment and the PKI record it: the certificate (revoked, or on hold), the eID and where
     * it was placed. Each place counts it, under that organisation and unit.
     */
    async function writeMobileEid(serial: string, personnummer: string, places: { organisation: string; unit: string | null; holder: string }[], enrolledAt: Date, notAfter: Date, revoked: { at: Date; reason: string; onHold?: boolean } | null) {
      await db.query(
        `insert into pki_certificates (serial, ca_id, profile, subject, identifier, not_before, not_after, der, revoked_at, revocation_reason, on_hold)
         values ($1, 'mobile', 'mobile', 'CN=x', $2, $3, $4, '\\x00', $5, $6, $7)`,
        [serial, personnummer, enrolledAt, notAfter, revoked?.at ?? null, revoked && !revoked.onHold ? revoked.reason : null, revoked?.onHold ?? false],
      );
      await db.query(`insert into authn_enrolment_codes (code_hash, personnummer, requested_by, created_at, expires_at, used_at, certificate_serial) values ($1, $2, 'test', $3, $3, $3, $4)`, [
        new TextEncoder().encode(serial),
        personnummer,
        enrolledAt,
        serial,
      ]);
      await db.query('insert into authn_mobile_eids (serial, personnummer, enrolled_at, not_after, enrolment_code_hash) values ($1, $2, $3, $4, $5)', [serial, personnummer, enrolledAt, notAfter, new TextEncoder().encode(serial)]);
      const isRevoked = revoked !== null && !revoked.onHold;
      for (const { organisation, unit, holder } of places) {
        await db.query('insert into authn_mobile_eid_place (serial, organisation_hsa_id, unit_hsa_id, holder_hsa_id) values ($1, $2, $3, $4)', [serial, organisation, unit, holder]);
        const base = { organisation, unit, type: 'mobile-eid', loa: 3 };
        written.push({ ...base, at: enrolledAt, event: 'enrolled', reason: null });
        if (isRevoked) written.push({ ...base, at: revoked.at, event: 'revoked', reason: revoked.reason });
        if (notAfter <= now && (!isRevoked || revoked.at > notAfter)) written.push({ ...base, at: notAfter, event: 'expired', reason: null });
        credentials.push({ ...base, status: isRevoked ? 'revoked' : notAfter <= now ? 'expired' : 'active', reason: isRevoked ? revoked.reason : null, personnummer });
      }
    }

    const appoint = async (name: string, index: number, organisation: string, roles: [Role, string | null][]) => {
      const holder = employeesOf(region, organisation)[index]!.hsaId;
      for (const [role, unit] of roles) await appointRole(db, { operator: 't' }, { holder, role, organisation, unit, trainedOn: role === 'id-administrator' ? now : null }, now);
      actors[name] = await loadActor(db, holder, now, 365);
    };

    before(async () => {
      db = await target.open();
      region = await seedTestRegion(db, now);
      [orgA, orgB] = region.organisations.map((o) => o.hsaId) as [string, string];
      const unitsA = region.units.filter((u) => u.organisationHsaId === orgA);
      const below = (hsaId: string): string[] => [hsaId, ...unitsA.filter((u) => u.parentUnitHsaId === hsaId).flatMap((u) => below(u.hsaId))];
      unitWithSubtree = (unitsA.find((u) => unitsA.some((c) => c.parentUnitHsaId === u.hsaId)) ?? unitsA[0]!).hsaId;
      subtree = new Set(below(unitWithSubtree));
      await appoint('officerA', 0, orgA, [['security-officer', null]]);
      await appoint('viewerA', 1, orgA, [['security-officer', null], ['protected-identity-viewer', null]]);
      await appoint('issuerB', 0, orgB, [['responsible-issuer', null]]);
      await appoint('adminA', 2, orgA, [['id-administrator', null]]);
      await appoint('unitOfficerA', 3, orgA, [['security-officer', unitWithSubtree]]);

      const people = region.employees.filter((e) => e.organisationHsaId === orgA || e.organisationHsaId === orgB);
      protectedPnr = employeesOf(region, orgA)[5]!.personnummer;
      await db.query('update directory_person set protected_identity = true where personnummer = $1', [protectedPnr]);
      const causes = ['lost', 'stolen', 'employment-ended', 'replaced', 'damaged'];
      const start = Date.parse('2025-01-01T00:00:00Z');
      const span = Date.parse('2026-04-30T00:00:00Z') - start;
      await db.transaction(async (tx) => {
        for (let i = 0; i < 160; i++) {
          const person = i === 0 ? employeesOf(region, orgA)[5]! : pick(people);
          const organisation = person.organisationHsaId;
          const unit = random() < 0.85 ? pick(region.units.filter((u) => u.organisationHsaId === organisation)).hsaId : null;
          const kind = pick(['ordinary', 'ordinary', 'reserve', 'test']);
          const loa = kind === 'test' ? null : kind === 'ordinary' ? 3 : pick([2, 3]);
          // Some times sit just before midnight UTC: the next day in Sweden.
          let at = new Date(start + Math.floor(random() * span));
          if (i % 7 === 0) at = new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth(), at.getUTCDate(), 23, 30));
          const steps: { status: string; at: Date; cause?: string }[] = [{ status: kind === 'reserve' && loa === 3 ? 'awaiting-confirmation' : 'ordered', at }];
          const later = () => (at = new Date(Math.min(at.getTime() + Math.floor(random() * 30 * 86_400_000) + 60_000, now.getTime() - 1000)));
          if (steps[0]!.status === 'awaiting-confirmation') steps.push({ status: 'ordered', at: later() });
          const fate = random();
          if (fate < 0.1) steps.push({ status: 'withdrawn', at: later() });
          else if (fate > 0.15) {
            steps.push({ status: 'in-production', at: later() }, { status: 'sent', at: later() });
            if (fate > 0.3) steps.push({ status: 'active', at: later() });
            if (fate > 0.7) steps.push({ status: 'revoked', at: later(), cause: pick(causes) });
          }
          // Produced cards' certificates end some time after production: some before now, some later.
          const sent = steps.find((s) => s.status === 'sent');
          const certificatesNotAfter = sent ? new Date(sent.at.getTime() + Math.floor(random2() * 500 * 86_400_000)) : null;
          await writeCard(tx, organisation, unit, person.personnummer, person.hsaId, kind, loa, steps, certificatesNotAfter);
        }
      });
      await db.query(`insert into pki_cas (id, algorithm, certificate_der, encrypted_key_pem) values ('mobile', 'test', '\\x00', 'x') on conflict do nothing`);
      const unitsOf = (organisation: string) => region.units.filter((u) => u.organisationHsaId === organisation);
      const mobileStart = Date.parse('2025-01-01T00:00:00Z');
      for (let i = 0; i < 40; i++) {
        const person = i === 0 ? employeesOf(region, orgA)[5]! : pick2(people);
        const enrolledAt = new Date(mobileStart + Math.floor(random2() * (now.getTime() - mobileStart - 86_400_000)));
        const notAfter = new Date(enrolledAt.getTime() + Math.floor(random2() * 600 * 86_400_000));
        const fate = i === 2 ? 0.32 : random2();
        const revoked =
          fate < 0.3 ? { at: new Date(Math.min(enrolledAt.getTime() + Math.floor(random2() * 400 * 86_400_000), now.getTime() - 1000)), reason: pick2(['keyCompromise', 'affiliationChanged', 'cessationOfOperation']) } : fate < 0.35 ? { at: enrolledAt, reason: 'certificateHold', onHold: true } : null;
        const places = [{ organisation: person.organisationHsaId, unit: random2() < 0.8 ? pick2(unitsOf(person.organisationHsaId)).hsaId : null, holder: person.hsaId }];
        // Some holders also work in the other organisation: the eID counts in both.
        const other = person.organisationHsaId === orgA ? orgB : orgA;
        if (i % 5 === 1) places.push({ organisation: other, unit: pick2(unitsOf(other)).hsaId, holder: employeesOf(region, other)[0]!.hsaId });
        await writeMobileEid(`m${String(i).padStart(3, '0')}`, person.personnummer, places, enrolledAt, notAfter, revoked);
      }
      await writeFunctionCertificate(orgA, 'f001', new Date('2025-02-03T10:00:00Z'), new Date('2026-03-05T10:00:00Z'), null);
      await writeFunctionCertificate(orgA, 'f002', new Date('2025-03-03T10:00:00Z'), new Date('2026-09-05T10:00:00Z'), { at: new Date('2025-11-20T12:00:00Z'), reason: 'keyCompromise' });
      await writeFunctionCertificate(orgA, 'f003', new Date('2025-06-03T10:00:00Z'), new Date('2026-06-05T10:00:00Z'), null);
      await writeFunctionCertificate(orgB, 'f004', new Date('2025-06-03T10:00:00Z'), new Date('2025-12-31T23:30:00Z'), null);
    });
    after(async () => {
      await db.close();
    });

    const status = (by: Principal, raw: RawParameters) => runReport(db, by, parseStatusRequest(raw), now);
    const events = (by: Principal, raw: RawParameters) => runReport(db, by, parseEventRequest(raw), now);
    const credentialKey = (c: Credential, k: string) => (k === 'type' ? c.type : (c as unknown as Record<string, unknown>)[k]);
    const writtenKey = (w: Written, k: string) => (k === 'type' ? w.type : (w as unknown as Record<string, unknown>)[k]);

    it('the status report counts each credential once by type, LoA, status and reason, as written', async () => {
      for (const by of [['type', 'status'], ['type', 'loa', 'status', 'reason'], ['reason'], ['unit', 'type']]) {
        for (const organisation of [orgA, orgB]) {
          const report = await status({ operator: 't' }, { organisation, by: by.join(',') });
          const mine = credentials.filter((c) => c.organisation === organisation);
          assert.deepEqual(reportTally(report), tally(mine, by, credentialKey), `${organisation} by ${by.join(',')}`);
          assert.equal(report.total, mine.length);
        }
      }
    });

    it('a unit report covers the unit and the units below it, and no function certificates', async () => {
      const report = await status(actors['unitOfficerA']!, { organisation: orgA, unit: unitWithSubtree, by: 'unit,status' });
      const mine = credentials.filter((c) => c.organisation === orgA && c.unit !== null && subtree.has(c.unit));
      assert.deepEqual(reportTally(report), tally(mine, ['unit', 'status'], credentialKey));
      const history = await events(actors['unitOfficerA']!, { organisation: orgA, unit: unitWithSubtree, from: '2025-01-01', to: '2026-05-01', by: 'event' });
      assert.deepEqual(reportTally(history), tally(written.filter((w) => w.organisation === orgA && w.unit !== null && subtree.has(w.unit)), ['event'], writtenKey));
    });

    it('the event report counts per week, month, quarter and year in Swedish days, within from and to', async () => {
      for (const per of ['week', 'month', 'quarter', 'year']) {
        for (const [from, to] of [['2025-01-01', '2026-05-01'], ['2025-04-01', '2025-06-30'], ['2026-01-01', '2026-01-01'], ['2025-03-15', '2025-11-20'], ['2025-12-31', '2026-02-01']] as const) {
          const report = await events(actors['officerA']!, { organisation: orgA, from, to, per, by: 'event,reason' });
          const inRange = written.filter((w) => w.organisation === orgA && stockholmDay(w.at) >= from && stockholmDay(w.at) <= to);
          assert.deepEqual(reportTally(report), tally(inRange, ['period', 'event', 'reason'], (w, k) => (k === 'period' ? label(stockholmDay(w.at), per) : writtenKey(w, k))), `${per} ${from}..${to}`);
          assert.equal(report.periods!.at(0), label(from, per));
          assert.equal(report.periods!.at(-1), label(to, per));
          assert.equal(new Set(report.periods).size, report.periods!.length);
        }
      }
      const nearMidnight = written.find((w) => w.organisation === orgA && w.at.getUTCHours() === 23 && w.at.getUTCMinutes() === 30)!;
      const day = stockholmDay(nearMidnight.at);
      assert.notEqual(day, nearMidnight.at.toISOString().slice(0, 10), 'the chosen event is on the next day in Sweden');
      const oneDay = await events(actors['officerA']!, { organisation: orgA, from: day, to: day, by: 'type,loa,event' });
      assert.deepEqual(reportTally(oneDay), tally(written.filter((w) => w.organisation === orgA && stockholmDay(w.at) === day), ['type', 'loa', 'event'], writtenKey));
    });

    it('a range not on month boundaries, without periods, counts the same as its days', async () => {
      for (const [from, to] of [['2025-03-15', '2025-11-20'], ['2025-02-01', '2026-04-30'], ['2025-01-31', '2025-03-01']] as const) {
        const report = await events(actors['officerA']!, { organisation: orgA, from, to, by: 'type,loa,event,reason,unit' });
        const inRange = written.filter((w) => w.organisation === orgA && stockholmDay(w.at) >= from && stockholmDay(w.at) <= to);
        assert.deepEqual(reportTally(report), tally(inRange, ['type', 'loa', 'event', 'reason', 'unit'], writtenKey), `${from}..${to}`);
      }
    });

    it('revocations by reason over a quarter: the question an issuer asks', async () => {
      const report = await events(actors['issuerB']!, { organisation: orgB, from: '2025-10-01', to: '2025-12-31', by: 'type,event,reason' });
      const expected = written.filter((w) => w.organisation === orgB && stockholmDay(w.at) >= '2025-10-01' && stockholmDay(w.at) <= '2025-12-31');
      assert.deepEqual(reportTally(report), tally(expected, ['type', 'event', 'reason'], writtenKey));
      assert.ok(!report.rows.some((r) => r['type'] === 'function-certificate' && r['event'] === 'expired'), 'f004 expires 2026-01-01 in Sweden, after the quarter');
    });

    it('listings: every credential or event with its subject; protected identities hidden unless the caller may see them', async () => {
      const plain = await status(actors['officerA']!, { organisation: orgA, view: 'listing' });
      assert.equal(plain.rows.length, credentials.filter((c) => c.organisation === orgA).length);
      assert.equal(plain.truncated, false);
      const hiddenRow = plain.rows.find((r) => r['type'] !== 'function-certificate' && r['personnummer'] === null)!;
      assert.ok(hiddenRow, 'the protected person’s card is listed without personnummer');
      assert.equal(hiddenRow['subject'], '(protected identity)');
      assert.ok(!JSON.stringify(plain).includes(protectedPnr));
      const viewer = await status(actors['viewerA']!, { organisation: orgA, view: 'listing' });
      assert.ok(viewer.rows.some((r) => r['personnummer'] === protectedPnr));
      const history = await events(actors['officerA']!, { organisation: orgA, from: '2025-01-01', to: '2026-05-01', view: 'listing', limit: '5' });
      assert.equal(history.rows.length, 5);
      assert.equal(history.truncated, true);
      const all = await events(actors['officerA']!, { organisation: orgA, from: '2025-01-01', to: '2026-05-01', view: 'listing' });
      assert.equal(all.rows.length, written.filter((w) => w.organisation === orgA).length);
      assert.ok(!JSON.stringify(all).includes(protectedPnr));
      const times = all.rows.map((r) => String(r['at']));
      assert.deepEqual(times, [...times].sort());
    });

    it('cards expire with their certificates and mobile eIDs count where they were placed, without a write', async () => {
      const cardTypes = new Set(['ordinary-card', 'reserve-card', 'test-card']);
      assert.ok(credentials.some((c) => cardTypes.has(c.type) && c.status === 'expired'), 'the data has expired cards');
      for (const wanted of ['active', 'revoked', 'expired']) assert.ok(credentials.some((c) => c.type === 'mobile-eid' && c.status === wanted), `the data has ${wanted} mobile eIDs`);
      for (const organisation of [orgA, orgB]) {
        const report = await status({ operator: 't' }, { organisation, by: 'type,loa,status,reason,unit' });
        const mine = credentials.filter((c) => c.organisation === organisation);
        assert.deepEqual(reportTally(report), tally(mine, ['type', 'loa', 'status', 'reason', 'unit'], credentialKey));
        const history = await events({ operator: 't' }, { organisation, from: '2025-01-01', to: '2026-05-01', per: 'month', by: 'type,event,reason' });
        assert.deepEqual(reportTally(history), tally(written.filter((w) => w.organisation === organisation), ['period', 'type', 'event', 'reason'], (w, k) => (k === 'period' ? label(stockholmDay(w.at), 'month') : writtenKey(w, k))));
      }
      // A certificate on hold is not revoked: the eID counts as active (or expired), never revoked with a reason.
      const onHold = await db.query<{ serial: string }>(`select serial from pki_certificates where on_hold and serial like 'm%'`);
      assert.ok(onHold.length > 0, 'the data has an eID on hold');
      const listing = await status({ operator: 't' }, { organisation: orgA, view: 'listing', limit: '100000' });
      const held = listing.rows.filter((r) => onHold.some((h) => h.serial === r['id']));
      for (const row of held) assert.notEqual(row['status'], 'revoked');
      // A mobile eID placed in both organisations is counted once in each, and in neither more than once.
      const twice = credentials.filter((c) => c.type === 'mobile-eid' && c.personnummer !== null);
      const serialsA = listing.rows.filter((r) => r['type'] === 'mobile-eid').map((r) => r['id']);
      assert.equal(new Set(serialsA).size, serialsA.length);
      assert.equal(serialsA.length, twice.filter((c) => c.organisation === orgA).length);
      // An active card past its certificates' end is listed as expired.
      const expiredCards = listing.rows.filter((r) => cardTypes.has(String(r['type'])) && r['status'] === 'expired').length;
      assert.equal(expiredCards, credentials.filter((c) => c.organisation === orgA && cardTypes.has(c.type) && c.status === 'expired').length);
    });

    it('refuses callers without report.read in scope, and another organisation', async () => {
      await assert.rejects(status(actors['officerA']!, { organisation: orgB }), refused('forbidden', /report\.read in SE/));
      await assert.rejects(events(actors['issuerB']!, { organisation: orgA, from: '2026-01-01', to: '2026-02-01' }), refused('forbidden', /report\.read/));
      await assert.rejects(status(actors['adminA']!, { organisation: orgA }), refused('forbidden', /report\.read/));
      await assert.rejects(status(actors['unitOfficerA']!, { organisation: orgA }), refused('forbidden', /report\.read/));
      await assert.rejects(status(actors['officerA']!, { organisation: 'SE2321000999-NONE' }), refused('not-found', /no current organisation/));
      await assert.rejects(status(actors['officerA']!, { organisation: orgA, unit: region.units.find((u) => u.organisationHsaId === orgB)!.hsaId }), refused('not-found', /not a current unit of/));
    });

    it('refuses bad parameters naming the parameter', () => {
      const bad: [RawParameters, RegExp][] = [
        [{ organisation: orgA, by: 'type,colour' }, /^by: unknown grouping 'colour'/],
        [{ organisation: orgA, by: 'type,type' }, /^by: a grouping is named twice/],
        [{ organisation: orgA, view: 'pie' }, /^view: unknown value 'pie'/],
        [{ organisation: orgA, view: 'listing', limit: '0' }, /^limit:/],
        [{ organisation: 'region' }, /^organisation: 'region' is not an HSA-id/],
        [{}, /^organisation: missing/],
        [{ organisation: orgA, unit: 'x;drop table' }, /^unit:/],
      ];
      for (const [raw, pattern] of bad) assert.throws(() => parseStatusRequest(raw), refused('invalid', pattern));
      const badEvents: [RawParameters, RegExp][] = [
        [{ organisation: orgA, from: '2026-03-01', to: '2026-02-01' }, /^from: 2026-03-01 is after to \(2026-02-01\)/],
        [{ organisation: orgA, from: '2026-02-30', to: '2026-03-01' }, /^from: '2026-02-30' is not a date/],
        [{ organisation: orgA, from: '2026-01-01', to: 'tomorrow' }, /^to: 'tomorrow' is not a date/],
        [{ organisation: orgA, to: '2026-01-01' }, /^from: missing/],
        [{ organisation: orgA, from: '2026-01-01', to: '2026-02-01', per: 'fortnight' }, /^per: unknown value 'fortnight'; use one of week, month, quarter, year/],
        [{ organisation: orgA, from: '2026-01-01', to: '2026-02-01', by: 'status' }, /^by: unknown grouping 'status'/],
        [{ organisation: orgA, from: '1990-01-01', to: '2026-02-01' }, /^to: at most/],
      ];
      for (const [raw, pattern] of badEvents) assert.throws(() => parseEventRequest(raw), refused('invalid', pattern));
    });

    it('the real lifecycle code feeds the reports: an order and its withdrawal are counted', async () => {
      const context: CardContext = { db, pki: {} as CardContext['pki'], now: () => now, config: loadConfig({ overrides: { dataDir: 'memory://' } }).portal };
      const holder = employeesOf(region, orgA).at(-1)!;
      const before = await events({ operator: 't' }, { organisation: orgA, from: '2026-05-01', to: '2026-05-01', by: 'type,event' });
      const { card } = await orderCard(context, actors['adminA']!, { kind: 'test', loa: null, holder: holder.hsaId, photo: null, office: null });
      await withdrawOrder(context, actors['adminA']!, card.id);
      const afterwards = await events({ operator: 't' }, { organisation: orgA, from: '2026-05-01', to: '2026-05-01', by: 'type,event' });
      const count = (r: Report, event: string) => Number(r.rows.find((row) => row['type'] === 'test-card' && row['event'] === event)?.['count'] ?? 0);
      assert.equal(count(afterwards, 'ordered') - count(before, 'ordered'), 1);
      assert.equal(count(afterwards, 'withdrawn') - count(before, 'withdrawn'), 1);
      const now2 = await status({ operator: 't' }, { organisation: orgA, by: 'type,status' });
      const expected = credentials.filter((c) => c.organisation === orgA && c.type === 'test-card' && c.status === 'withdrawn').length + 1;
      assert.equal(now2.rows.find((r) => r['type'] === 'test-card' && r['status'] === 'withdrawn')?.['count'], expected);

      // An unfinished order deleted by the scheduled job leaves the status counts, and the history says so (at the database's time).
      const testOrdered = (r: Report) => Number(r.rows.find((row) => row['type'] === 'test-card' && row['status'] === 'ordered')?.['count'] ?? 0);
      const { card: stale } = await orderCard(context, actors['adminA']!, { kind: 'test', loa: null, holder: holder.hsaId, photo: null, office: null });
      const withOrder = await status({ operator: 't' }, { organisation: orgA, by: 'type,status' });
      assert.ok(await deleteUnfinishedOrder(context, 'unfinished-orders', stale.id, now));
      const withoutOrder = await status({ operator: 't' }, { organisation: orgA, by: 'type,status' });
      assert.equal(testOrdered(withOrder) - testOrdered(withoutOrder), 1);
      const [{ today }] = (await db.query<{ today: string }>(`select to_char((now() at time zone 'Europe/Stockholm')::date, 'YYYY-MM-DD') as today`)) as [{ today: string }];
      const deleted = await events({ operator: 't' }, { organisation: orgA, from: today, to: today, by: 'type,event' });
      assert.equal(deleted.rows.find((r) => r['type'] === 'test-card' && r['event'] === 'deleted')?.['count'], 1);
    });
  });
}

describe('CSV', () => {
  it('quotes commas, quotes and line breaks, and neutralises formulas', () => {
    assert.equal(csvCell('plain'), 'plain');
    assert.equal(csvCell('a,b'), '"a,b"');
    assert.equal(csvCell('say "hi"'), '"say ""hi"""');
    assert.equal(csvCell('two\nlines'), '"two\nlines"');
    for (const formula of ['=1+2', '+1', '-1', '@SUM(A1)', '\tx', '\rx']) assert.ok(csvCell(formula).replace(/^"/, '').startsWith("'"), formula);
    assert.equal(csvCell('=HYPERLINK("http://x","y")'), `"'=HYPERLINK(""http://x"",""y"")"`);
    assert.equal(csvCell(-3), '-3', 'numbers stay numbers');
    assert.equal(csvCell(null), '');
    assert.equal(toCsv(['a', 'b'], [{ a: 'x', b: 2 }, { a: '=x', b: null }]), "a,b\r\nx,2\r\n'=x,\r\n");
  });
});

describe('chart', () => {
  const base = { report: 'events' as const, view: 'counts' as const, organisation: 'SE1-A', unit: null, generatedAt: '', by: ['event'] };
  it('shows every period of the range, empty ones as zero, summed over the other groupings', () => {
    const report: Report = { ...base, periods: ['2026-01', '2026-02', '2026-03'], columns: ['period', 'event', 'count'], rows: [{ period: '2026-01', event: 'ordered', count: 2 }, { period: '2026-03', event: 'ordered', count: 1 }, { period: '2026-03', event: 'revoked', count: 4 }] };
    assert.deepEqual(barsOf(report), [{ label: '2026-01', value: 2 }, { label: '2026-02', value: 0 }, { label: '2026-03', value: 5 }]);
  });
  it('draws one bar per row without periods, labels escaped, the table named as its description', () => {
    const report: Report = { ...base, columns: ['event', 'reason', 'count'], rows: [{ event: 'revoked', reason: '<script>x</script>', count: 3 }, { event: 'ordered', reason: null, count: 6 }] };
    const bars = barsOf(report, (v) => `~${v}`);
    assert.deepEqual(bars, [{ label: '~revoked · ~<script>x</script>', value: 3 }, { label: '~ordered · –', value: 6 }]);
    const svg = barChart(bars, { title: 't1', table: 'tab' }, 'Title').value;
    assert.ok(!svg.includes('<script>'));
    assert.match(svg, /role="img" aria-labelledby="t1" aria-describedby="tab"/);
    assert.equal((svg.match(/<rect /g) ?? []).length, 2);
    assert.ok(!/style=/.test(svg), 'no inline style: the CSP allows none');
    assert.match(svg, /width="380"/, 'the largest bar fills the bar area');
  });
});
