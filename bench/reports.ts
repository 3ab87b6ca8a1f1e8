// eID portal reports (issue 10): each report's time over 1,000,000 cards and
// 10,000,000 events in PostgreSQL (DATABASE_URL). The data is generated with
// set-based SQL into the schema bench_reports and kept there with a marker
// row, so a second run reuses it; a changed size or a failed migration
// regenerates it. The reports run on the largest organisation (a quarter of
// everything: 250,000 cards, 2,500,000 events) and on a unit subtree of it.
// The aim: ≤ 1 s each.
// Sizes: BENCH_REPORTS_CARDS (default 1000000), BENCH_REPORTS_EVENTS (default 10000000).
import { loadavg } from 'node:os';
import pg from 'pg';
import { migrate, openDatabase, readMigrations, type Database } from '../src/store/index.ts';
import { parseEventRequest, parseStatusRequest, type RawParameters } from '../src/portal/reports/parameters.ts';
import { runReport } from '../src/portal/reports/report.ts';
import { toCsv } from '../src/portal/reports/csv.ts';
import { median, printTable } from './support.ts';

const CARDS = Number(process.env['BENCH_REPORTS_CARDS'] ?? 1_000_000);
/** Mobile eIDs: a quarter as many as cards, each tenth placed in two organisations. */
const MOBILE_EIDS = Math.floor(CARDS / 4);
const EVENTS = Number(process.env['BENCH_REPORTS_EVENTS'] ?? 10_000_000);
const SCHEMA = 'bench_reports';
const ORGANISATIONS = 20;
const UNITS = 25;
const RUNS = 5;
const AIM_MS = 1000;
/** Bumped when the generated data changes shape: the kept data is then made anew. */
const DATA_VERSION = 2;
const url = process.env['DATABASE_URL'];
if (!url) throw new Error('bench reports: set DATABASE_URL to a PostgreSQL database (10,000,000 rows are too many for the embedded PGlite)');

const org = (n: number) => `SE2321000099-R${n}`;
const admin = new pg.Client({ connectionString: url });
await admin.connect();
const scoped = new URL(url);
scoped.searchParams.set('options', `-c search_path=${SCHEMA} -c work_mem=256MB`);

async function open(): Promise<Database> {
  return openDatabase({ dataDir: 'memory://', database: { url: scoped.toString(), poolSize: 2 } });
}

/** The data if it is there and complete (the marker is written last), else a fresh schema filled anew. */
async function prepare(): Promise<Database> {
  const marked = await admin.query(`select cards, events, version from ${SCHEMA}.bench_marker`).catch(() => null);
  if (marked?.rows[0] && Number(marked.rows[0].cards) === CARDS && Number(marked.rows[0].events) === EVENTS && Number(marked.rows[0].version) === DATA_VERSION) {
    const db = await open();
    try {
      await migrate(db, await readMigrations());
      await addExpiryAndMobileEids(db);
      // A steady state: old months and days all-visible, as autovacuum leaves them (a session holding an old snapshot while the data was made can keep them from it).
      await db.exec('vacuum analyze portal_report_event_day, portal_report_event_month, portal_report_status, portal_card, portal_report_event, authn_mobile_eid_place, authn_mobile_eids, pki_certificates');
      console.log(`reusing ${CARDS} cards and ${EVENTS} events in schema ${SCHEMA}`);
      return db;
    } catch (error) {
      await db.close();
      console.log(`regenerating: ${(error as Error).message}`);
    }
  }
  await admin.query(`drop schema if exists ${SCHEMA} cascade`);
  await admin.query(`create schema ${SCHEMA}`);
  const db = await open();
  await migrate(db, await readMigrations());
  await generate(db);
  return db;
}

async function step(label: string, work: () => Promise<unknown>) {
  const started = performance.now();
  await work();
  console.log(`  ${label}: ${((performance.now() - started) / 1000).toFixed(1)} s`);
}

/**
 * Set-based generation. The report triggers are off while loading (one
 * statement writes a million rows); the summaries they would have kept are
 * then built with one GROUP BY each, and the triggers switched back on.
 */
async function generate(db: Database) {
  console.log(`generating ${CARDS} cards and ${EVENTS} events (set-based SQL; a few minutes on a loaded machine)`);
  // Each attribute from its own multiplier modulo a prime, so type, LoA, unit, status and reason vary independently within an organisation.
  const mix = (c: string, salt: number, n: number) => `((${c} * ${salt}) % 1000003) % ${n}`;
  const orgOf = (c: string) => `'SE2321000099-R' || (case when ${c} % 4 = 0 then 0 else 1 + (${c} / 4) % ${ORGANISATIONS - 1} end)`;
  const unitOf = (c: string) => `case when ${mix(c, 15485863, 20)} = 7 then null else ${orgOf(c)} || 'U' || ${mix(c, 104723, UNITS)} end`;
  const kindOf = (c: string) => `case when ${mix(c, 7919, 10)} < 7 then 'ordinary' when ${mix(c, 7919, 10)} < 9 then 'reserve' else 'test' end`;
  const loaOf = (c: string) => `case when ${mix(c, 7919, 10)} < 7 then 3 when ${mix(c, 7919, 10)} < 9 then 2 + ${mix(c, 104729, 2)} else null end`;
  const reasonOf = (c: string) => `(array['lost', 'stolen', 'employment-ended', 'replaced', 'damaged', 'suspected-misuse'])[1 + ${mix(c, 49979687, 6)}]`;
  await db.exec(`alter table portal_card disable trigger user;
    alter table portal_function_certificate disable trigger user;
    alter table portal_report_event disable trigger user;`);
  await step('organisations and units', () =>
    db.exec(`insert into directory_organisation (hsa_id, organisation_number, name, care_provider, valid_from, updated_at)
        select 'SE2321000099-R' || o, '55' || lpad(o::text, 8, '0'), 'Bench organisation ' || o, true, now(), now() from generate_series(0, ${ORGANISATIONS - 1}) o;
      -- Five top-level units, each with four below it.
      insert into directory_unit (hsa_id, organisation_hsa_id, parent_unit_hsa_id, name, care_unit, valid_from, updated_at)
        select 'SE2321000099-R' || o || 'U' || u, 'SE2321000099-R' || o, case when u % 5 = 0 then null else 'SE2321000099-R' || o || 'U' || (u - u % 5) end, 'Bench unit ' || u, true, now(), now()
          from generate_series(0, ${ORGANISATIONS - 1}) o, generate_series(0, ${UNITS - 1}) u;`),
  );
  await step(`${CARDS} cards`, () =>
    db.query(
      `insert into portal_card (kind, loa, personnummer, holder_hsa_id, organisation_hsa_id, unit_hsa_id, status, ordered_by, ordered_at, updated_at)
       select ${kindOf('g')}, ${loaOf('g')}, (190000000000 + g)::text, 'SE2321000099-H' || g, ${orgOf('g')}, ${unitOf('g')},
              (array['active', 'active', 'active', 'active', 'active', 'active', 'active', 'active', 'active', 'active', 'active', 'active', 'revoked', 'revoked', 'revoked', 'withdrawn', 'sent', 'in-production', 'ordered', 'awaiting-confirmation'])[1 + ${mix('g', 32452843, 20)}],
              'bench', at, at
         from generate_series(1, $1::bigint) g, lateral (select timestamptz '2021-06-01' + ((g * 7919) % (5 * 365 * 86400)) * interval '1 second' as at) t`,
      [CARDS],
    ),
  );
  await step('revocation requests of the revoked cards', () =>
    db.query(
      `insert into portal_revocation (card_id, personnummer, serials, reported_by, channel, received_at, registered_at, reason, received_by, keep_until)
       select id, personnummer, '{}', 'bench', 'phone', updated_at, updated_at, ${reasonOf('id')}, 'bench', updated_at + interval '10 years' from portal_card where status = 'revoked'`,
    ),
  );
  await step('10,000 function certificates', () =>
    db.query(
      `insert into portal_function_certificate (serial, function_object_hsa_id, organisation_hsa_id, profile, certificate_pem, chain_pem, dns_names, not_after, ordered_by, ordered_at, revoked_at, revoked_by, revocation_reason)
       select to_hex(g), 'SE2321000099-F' || g, ${orgOf('g')}, 'function-server', 'x', 'x', '{}', at + interval '398 days', 'bench', at,
              case when g % 10 = 0 then at + interval '100 days' end, case when g % 10 = 0 then 'bench' end, case when g % 10 = 0 then 'keyCompromise' end
         from generate_series(1, 10000) g, lateral (select timestamptz '2021-06-01' + ((g * 7919) % (5 * 365 * 86400)) * interval '1 second' as at) t`,
    ),
  );
  // Ten steps in each card's history; the card is the event's number modulo the card count.
  await step(`${EVENTS} events`, () =>
    db.query(
      `insert into portal_report_event (at, organisation_hsa_id, unit_hsa_id, credential_type, loa, event, reason, card_id, personnummer, subject_hsa_id)
       select timestamptz '2021-06-01' + ((c * 7919 + k * 1046527) % (5 * 365 * 86400)) * interval '1 second',
              ${orgOf('c')}, ${unitOf('c')}, ${kindOf('c')} || '-card', ${loaOf('c')}, e.event, case when e.event = 'revoked' then ${reasonOf('c')} end, c, (190000000000 + c)::text, 'SE2321000099-H' || c
         from generate_series(0, $1::bigint - 1) g,
              lateral (select 1 + g % $2::bigint as c, (g / $2::bigint) % 10 as k) x,
              lateral (select (array['ordered', 'in-production', 'produced', 'activated', 'revoked', 'ordered', 'confirmed', 'in-production', 'produced', 'withdrawn'])[1 + k] as event) e`,
      [EVENTS, CARDS],
    ),
  );
  await step('per-day summary', () =>
    db.exec(`insert into portal_report_event_day (organisation_hsa_id, day, unit_hsa_id, credential_type, loa, event, reason, count)
      select organisation_hsa_id, (at at time zone 'Europe/Stockholm')::date, unit_hsa_id, credential_type, loa, event, reason, count(*) from portal_report_event group by 1, 2, 3, 4, 5, 6, 7`),
  );
  await step('per-month summary', () =>
    db.exec(`insert into portal_report_event_month (organisation_hsa_id, month, unit_hsa_id, credential_type, loa, event, reason, count)
      select organisation_hsa_id, date_trunc('month', day)::date, unit_hsa_id, credential_type, loa, event, reason, sum(count) from portal_report_event_day group by 1, 2, 3, 4, 5, 6, 7`),
  );
  await step('status summary', () =>
    db.exec(`insert into portal_report_status (organisation_hsa_id, unit_hsa_id, credential_type, loa, status, reason, count)
        select c.organisation_hsa_id, c.unit_hsa_id, c.kind || '-card', c.loa, c.status, r.reason, count(*)
          from portal_card c left join portal_revocation r on r.card_id = c.id and c.status = 'revoked' group by 1, 2, 3, 4, 5, 6;
      insert into portal_report_status (organisation_hsa_id, unit_hsa_id, credential_type, loa, status, reason, count)
        select organisation_hsa_id, null::text, 'function-certificate', null::smallint, case when revoked_at is null then 'active' else 'revoked' end, revocation_reason, count(*)
          from portal_function_certificate group by 1, 2, 3, 4, 5, 6;`),
  );
  await db.exec(`alter table portal_card enable trigger user;
    alter table portal_function_certificate enable trigger user;
    alter table portal_report_event enable trigger user;`);
  // Index-only scans need the visibility map: vacuum once after the load.
  await step('vacuum analyze', () => db.exec('vacuum analyze'));
  await addExpiryAndMobileEids(db);
  await db.query('create table bench_marker (cards bigint not null, events bigint not null, version integer not null, made_at timestamptz not null default now())');
  await db.query('insert into bench_marker (cards, events, version) values ($1, $2, $3)', [CARDS, EVENTS, DATA_VERSION]);
}

/**
 * Added to kept data too (its own marker), so data made before mobile eIDs
 * and card expiry were reported need not be made again: produced cards'
 * certificates end three to five years after the order (many before the
 * reports' "now"), and mobile eIDs with their PKI certificates (each eighth
 * revoked) and places.
 */
async function addExpiryAndMobileEids(db: Database) {
  const marked = await db.query<{ n: string }>('select mobile_eids as n from bench_marker_mobile').catch(() => null);
  if (Number(marked?.[0]?.n) === MOBILE_EIDS) return;
  console.log(`adding card expiry and ${MOBILE_EIDS} mobile eIDs`);
  const orgOf = (c: string) => `'SE2321000099-R' || (case when ${c} % 4 = 0 then 0 else 1 + (${c} / 4) % ${ORGANISATIONS - 1} end)`;
  const at = `timestamptz '2021-06-01' + ((g * 7919) % (5 * 365 * 86400)) * interval '1 second'`;
  await db.exec('alter table portal_card disable trigger portal_report_cards_changed');
  await step('cards: their certificates’ end', () =>
    db.exec(`update portal_card set certificates_not_after = ordered_at + interval '3 years' + ((id * 7919) % 730) * interval '1 day' where status in ('active', 'revoked', 'sent')`),
  );
  await db.exec('alter table portal_card enable trigger portal_report_cards_changed');
  await step(`${MOBILE_EIDS} mobile eIDs`, () =>
    db.exec(`delete from authn_mobile_eid_place where serial like 'b%';
      delete from authn_mobile_eids where serial like 'b%';
      delete from authn_enrolment_codes where certificate_serial like 'b%';
      delete from pki_certificates where serial like 'b%';
      insert into pki_cas (id, algorithm, certificate_der, encrypted_key_pem) values ('mobile', 'bench', '\\x00', 'x') on conflict do nothing;
      insert into pki_certificates (serial, ca_id, profile, subject, identifier, not_before, not_after, der, issued_at, revoked_at, revocation_reason)
        select 'b' || g, 'mobile', 'mobile', 'CN=bench', (190000000000 + g)::text, at, at + interval '2 years', '\\x00', at,
               case when g % 8 = 0 then at + interval '200 days' end, case when g % 8 = 0 then (array['keyCompromise', 'affiliationChanged', 'cessationOfOperation'])[1 + g / 8 % 3] end
          from generate_series(1, ${MOBILE_EIDS}) g, lateral (select ${at} as at) t;
      insert into authn_enrolment_codes (code_hash, personnummer, requested_by, created_at, expires_at, used_at, certificate_serial)
        select convert_to('b' || g, 'UTF8'), (190000000000 + g)::text, 'bench', at, at, at, 'b' || g from generate_series(1, ${MOBILE_EIDS}) g, lateral (select ${at} as at) t;
      insert into authn_mobile_eids (serial, personnummer, enrolled_at, not_after, enrolment_code_hash)
        select 'b' || g, (190000000000 + g)::text, at, at + interval '2 years', convert_to('b' || g, 'UTF8') from generate_series(1, ${MOBILE_EIDS}) g, lateral (select ${at} as at) t;
      insert into authn_mobile_eid_place (serial, organisation_hsa_id, unit_hsa_id, holder_hsa_id)
        select 'b' || g, ${orgOf('g')}, ${orgOf('g')} || 'U' || g % ${UNITS}, 'SE2321000099-H' || g from generate_series(1, ${MOBILE_EIDS}) g
        union all
        select 'b' || g, case when g % 4 = 0 then 'SE2321000099-R1' else 'SE2321000099-R0' end, null, 'SE2321000099-H' || g from generate_series(10, ${MOBILE_EIDS}, 10) g;
      drop table if exists bench_marker_mobile;
      create table bench_marker_mobile as select ${MOBILE_EIDS}::bigint as mobile_eids;`),
  );
  await step('vacuum analyze', () => db.exec('vacuum analyze portal_card, pki_certificates, authn_mobile_eids, authn_mobile_eid_place, authn_enrolment_codes'));
}

const db = await prepare();
const rows: Record<string, string | number>[] = [];
try {
  const [{ cards, events }] = (await db.query<{ cards: number; events: number }>('select (select count(*) from portal_card) as cards, (select count(*) from portal_report_event) as events')) as [{ cards: number; events: number }];
  const [{ big }] = (await db.query<{ big: number }>(`select count(*) as big from portal_report_event where organisation_hsa_id = $1`, [org(0)])) as [{ big: number }];
  console.log(`${cards} cards, ${events} events in the database; ${org(0)} has ${big} events`);
  const now = new Date('2026-06-01T12:00:00Z');
  const operator = { operator: 'bench' };
  const unit = `${org(0)}U5`;
  const cases: [string, 'status' | 'events', RawParameters][] = [
    ['status: counts by type, status', 'status', { organisation: org(0), by: 'type,status' }],
    ['status: counts by type, LoA, status, reason, unit', 'status', { organisation: org(0), by: 'type,loa,status,reason,unit' }],
    ['status: counts, unit subtree (5 units)', 'status', { organisation: org(0), unit, by: 'unit,status' }],
    ['status: listing, first 1,000', 'status', { organisation: org(0), view: 'listing', limit: '1000' }],
    ['status: listing, 100,000 (CSV)', 'status', { organisation: org(0), view: 'listing', limit: '100000' }],
    ['events: 5 years per month by event, reason', 'events', { organisation: org(0), from: '2021-06-01', to: '2026-05-31', per: 'month', by: 'event,reason' }],
    ['events: 5 years per year by type, LoA, event', 'events', { organisation: org(0), from: '2021-06-01', to: '2026-05-31', per: 'year', by: 'type,loa,event' }],
    ['events: 1 year per week by type, event', 'events', { organisation: org(0), from: '2025-06-01', to: '2026-05-31', per: 'week', by: 'type,event' }],
    ['events: last quarter by reason', 'events', { organisation: org(0), from: '2026-01-01', to: '2026-03-31', by: 'event,reason' }],
    ['events: 5 years per quarter, unit subtree', 'events', { organisation: org(0), unit, from: '2021-06-01', to: '2026-05-31', per: 'quarter', by: 'event' }],
    ['events: listing of a month, first 1,000', 'events', { organisation: org(0), from: '2026-03-01', to: '2026-03-31', view: 'listing', limit: '1000' }],
  ];
  const load = loadavg()[0]!.toFixed(1);
  for (const [label, report, raw] of cases) {
    const request = report === 'status' ? parseStatusRequest(raw) : parseEventRequest(raw);
    const run = async () => {
      const result = await runReport(db, operator, request, now);
      if (label.includes('CSV')) toCsv(result.columns, result.rows);
      return result;
    };
    const first = await run();
    const timings: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const started = performance.now();
      await run();
      timings.push(performance.now() - started);
    }
    const typical = median(timings);
    rows.push({ report: label, rows: first.rows.length, 'median ms': typical, 'max ms': Math.max(...timings), 'aim ms': AIM_MS, within: typical <= AIM_MS ? 'yes' : 'no' });
  }
  printTable(`eID portal reports: ${cards} cards, ${events} events in PostgreSQL; organisation ${org(0)} (${big} events), median of ${RUNS} after one warm-up; load average ${load} at start (${loadavg()[0]!.toFixed(1)} at end)`, rows);
} finally {
  await db.close();
  await admin.end();
}
