// eID portal: person search (personnummer, HSA-id, name) and the person view
// (service identities, commissions, cards and every certificate's status) at
// 500,000 persons and 1,000,000 certificates (PostgreSQL when DATABASE_URL is
// set, else the embedded PGlite). The aim: p99 ≤ 50 ms. Then the job
// portal-unknown-holders over every certificate (its first run) and again, and
// the list of certificates of unknown holders for the whole organisation after it.
// Sizes: BENCH_PORTAL_PERSONS (default 500000), BENCH_PORTAL_CERTIFICATES (default 1000000).
import { pino } from 'pino';
import { databaseTargets } from '../test/support/stores.ts';
import { loadConfig } from '../src/config/index.ts';
import { generateRegion, seedRegion } from '../src/directory/index.ts';
import { openPki } from '../src/pki/index.ts';
import { loadActor } from '../src/portal/access.ts';
import { searchPeople, unknownHolderCertificates, viewPerson } from '../src/portal/person-view.ts';
import { unknownHoldersJob } from '../src/portal/jobs/unknown-holders.ts';
import { appointRole } from '../src/portal/role-store.ts';
import { percentile, printTable } from './support.ts';

const PERSONS = Number(process.env['BENCH_PORTAL_PERSONS'] ?? 500_000);
const CERTIFICATES = Number(process.env['BENCH_PORTAL_CERTIFICATES'] ?? 1_000_000);
const SAMPLES = 1_000;
const AIM_MS = 50;

const CARD_CHUNK = 5_000;
const targets = databaseTargets();
const target = targets.find((t) => t.name === 'postgres') ?? targets[0]!;
const db = await target.open();
const rows: Record<string, string | number>[] = [];
try {
  let started = performance.now();
  const now = new Date();
  const region = generateRegion({ persons: 2_000, seed: 'bench-portal' });
  await seedRegion(db, region, () => now);
  const config = loadConfig({ env: {}, overrides: { dataDir: 'memory://' } });
  const pki = await openPki({ config, db, log: pino({ level: 'silent' }), now: () => new Date() });
  const organisation = region.organisations[0]!.hsaId;
  const units = region.units.filter((u) => u.organisationHsaId === organisation).map((u) => u.hsaId);
  const admin = region.employees.find((e) => e.organisationHsaId === organisation)!;
  await appointRole(db, { operator: 'bench' }, { holder: admin.hsaId, role: 'id-administrator', organisation, unit: null, trainedOn: now }, now);

  // Top up with plain SQL: the reads, not the generator, are measured here.
  const extra = Math.max(0, PERSONS - region.register.length);
  await db.query(
    `insert into directory_person (personnummer, given_name, surname, search_name, created_at, updated_at)
     select (300000000000 + g)::text, 'Bench', 'Person ' || g, ' bench person ' || g, now(), now() from generate_series(1, $1::int) g`,
    [extra],
  );
  await db.query(
    `insert into directory_service_identity (hsa_id, person_id, organisation_hsa_id, unit_hsa_id, valid_from, updated_at)
     select 'SE2321000008-B' || p.id, p.id, $1, ($2::text[])[1 + p.id % array_length($2::text[], 1)], now(), now() from directory_person p where p.personnummer like '3%'`,
    [organisation, units],
  );
  // Four certificates a card: 250,000 cards for the first bench persons, in
  // statements of 5,000: the reports' triggers add every card to a few summary
  // rows, and many additions to one row in one transaction slow down quadratically.
  const cards = Math.floor(CERTIFICATES / 4);
  for (let done = 0, after = 0; done < cards; done += CARD_CHUNK) {
    const [chunk] = await db.query<{ last: number }>(
      `select max(id)::int as last from (select p.id from directory_person p join directory_service_identity s on s.person_id = p.id
        where p.personnummer like '3%' and p.id > $1 order by p.id limit $2) x`,
      [after, Math.min(CARD_CHUNK, cards - done)],
    );
    if (!chunk?.last) break;
    await db.query(
      `insert into portal_card (kind, loa, personnummer, holder_hsa_id, organisation_hsa_id, unit_hsa_id, status, ordered_by, ordered_at, card_number, updated_at)
       select 'ordinary', 3, p.personnummer, s.hsa_id, s.organisation_hsa_id, s.unit_hsa_id, 'active', 'bench', now(), 'B' || lpad(p.id::text, 12, '0'), now()
         from directory_person p join directory_service_identity s on s.person_id = p.id where p.personnummer like '3%' and p.id > $1 and p.id <= $2`,
      [after, chunk.last],
    );
    after = chunk.last;
  }
  await db.query(
    `insert into pki_certificates (serial, ca_id, profile, subject, identifier, not_before, not_after, der, issued_at)
     select md5(c.id::text || k), 'person-hsa-loa3', 'person-auth-hsa-loa3', 'CN=Bench', c.holder_hsa_id, now(), now() + interval '5 years', '\\x00', now() - interval '1 day'
       from portal_card c, generate_series(1, 4) k`,
  );
  await db.query(`insert into portal_card_certificate (card_id, slot, serial, profile) select c.id, 'slot-' || k, md5(c.id::text || k), 'person-auth-hsa-loa3' from portal_card c, generate_series(1, 4) k`);
  await db.query('analyze');
  const [{ persons, certificates }] = (await db.query<{ persons: number; certificates: number }>(
    'select (select count(*) from directory_person) as persons, (select count(*) from pki_certificates) as certificates',
  )) as [{ persons: number; certificates: number }];
  console.log(`loaded ${persons} persons, ${certificates} certificates in ${((performance.now() - started) / 1000).toFixed(1)} s; database: ${target.name}`);

  const sample = await db.query<{ personnummer: string; hsa_id: string }>(
    `select p.personnummer, s.hsa_id from portal_card c join directory_person p on p.personnummer = c.personnummer join directory_service_identity s on s.hsa_id = c.holder_hsa_id order by random() limit $1`,
    [SAMPLES],
  );
  const names = region.register.slice(0, 200).map((r, i) => (i % 2 ? r.surname.slice(0, 4) : `${r.givenName} ${r.surname.slice(0, 3)}`));
  const timed = async (label: string, inputs: readonly string[], work: (input: string) => Promise<unknown>) => {
    for (const input of inputs.slice(0, 50)) await work(input);
    const timings: number[] = [];
    for (const input of inputs) {
      started = performance.now();
      await work(input);
      timings.push(performance.now() - started);
    }
    const p99 = percentile(timings, 99);
    rows.push({ measure: `${label} (${inputs.length})`, 'p50 ms': percentile(timings, 50), 'p99 ms': p99, 'aim p99 ms': AIM_MS, within: p99 <= AIM_MS ? 'yes' : 'no' });
  };
  const actor = () => loadActor(db, admin.hsaId, new Date(), 1095);
  await timed('search by personnummer', sample.map((s) => s.personnummer), async (q) => searchPeople(db, await actor(), q));
  await timed('search by HSA-id', sample.map((s) => s.hsa_id), async (q) => searchPeople(db, await actor(), q));
  await timed('search by name (25 hits at most)', names, async (q) => searchPeople(db, await actor(), q));
  await timed('person view with a card and 4 certificates', sample.map((s) => s.personnummer), async (pnr) => viewPerson(db, pki, await actor(), pnr));
  // The job checks every certificate once (its first run on an installation); after it, with every holder known,
  // the list checks only the certificates it recorded (none) and those issued since (none).
  const job = async (label: string) => {
    started = performance.now();
    const summary = await unknownHoldersJob.run({ db, log: pino({ level: 'silent' }), now: () => new Date(), runId: 0 }, { dryRun: false });
    rows.push({ measure: `${label} (examined ${String(summary['examined'])})`, 'p50 ms': performance.now() - started, 'p99 ms': '-', 'aim p99 ms': '-', within: '-' });
  };
  await job('job portal-unknown-holders, first run');
  await job('job portal-unknown-holders, again with nothing new');
  await timed('certificates of unknown holders, whole organisation', Array.from({ length: 5 }, () => organisation), async (org) => unknownHolderCertificates(db, await actor(), org, new Date()));
} finally {
  await db.close();
}

printTable(`eID portal: ${PERSONS} persons, ${CERTIFICATES} certificates (roles loaded and checked per request)`, rows);
