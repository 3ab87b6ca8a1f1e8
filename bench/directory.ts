// Directory: full sync from a real slapd, incremental sync of 1,000 changes,
// and the login attribute lookup at 500,000 persons (PostgreSQL when
// DATABASE_URL is set, else the embedded PGlite).
// Sizes: BENCH_DIRECTORY_PERSONS (sync, default 100000), BENCH_DIRECTORY_LOOKUP_PERSONS (default 500000).
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Attribute, Change, Client } from 'ldapts';
import { databaseTargets } from '../test/support/stores.ts';
import { ldapConfigSchema } from '../src/directory/config.ts';
import { generateRegion } from '../src/directory/generate.ts';
import { regionToLdif } from '../src/directory/ldap/ldif.ts';
import { slapdInstalled, startSlapd } from '../src/directory/ldap/slapd.ts';
import { syncCatalogue } from '../src/directory/ldap-sync.ts';
import { loginAttributes, searchPersons } from '../src/directory/reads.ts';
import { percentile, printTable } from './support.ts';

const PERSONS = Number(process.env['BENCH_DIRECTORY_PERSONS'] ?? 100_000);
const LOOKUP_PERSONS = Number(process.env['BENCH_DIRECTORY_LOOKUP_PERSONS'] ?? 500_000);
const CHANGES = 1_000;
const LOOKUPS = 2_000;
const SEARCHES = 50;
const now = () => new Date();

if (!(await slapdInstalled())) throw new Error('bench directory needs slapd: apt-get install slapd ldap-utils');
const targets = databaseTargets();
const target = targets.find((t) => t.name === 'postgres') ?? targets[0]!;
const rows: Record<string, string | number>[] = [];

// The bench process also holds the generated region, so besides the process's peak RSS it reports how much the
// heap grew during the sync, from a collected baseline (gc is exposed at run time; npm run bench passes no flags).
setFlagsFromString('--expose-gc');
const collectGarbage = runInNewContext('gc') as () => void;
const heapBytes = () => {
  const usage = process.memoryUsage();
  return usage.heapUsed + usage.external + usage.arrayBuffers;
};

/** Time, peak RSS and peak heap growth while `work` runs, sampled every 20 ms. */
async function measured<T>(work: () => Promise<T>): Promise<{ result: T; peakRssMiB: number; heapGrowthMiB: number; seconds: number }> {
  collectGarbage();
  const baseline = heapBytes();
  let peakRss = process.memoryUsage.rss();
  let peakHeap = baseline;
  const sample = () => {
    peakRss = Math.max(peakRss, process.memoryUsage.rss());
    peakHeap = Math.max(peakHeap, heapBytes());
  };
  const sampler = setInterval(sample, 20);
  const started = performance.now();
  try {
    const result = await work();
    sample();
    return { result, peakRssMiB: peakRss / 2 ** 20, heapGrowthMiB: (peakHeap - baseline) / 2 ** 20, seconds: (performance.now() - started) / 1000 };
  } finally {
    clearInterval(sampler);
  }
}

const region = generateRegion({ persons: PERSONS, seed: 'bench' });
const entries = region.organisations.length + region.units.length + region.functionObjects.length + region.employees.length + region.commissions.length;
let started = performance.now();
const slapd = await startSlapd({ ldif: regionToLdif(region, { modifyTimestamp: '20260101000000Z' }) });
console.log(`slapd loaded ${entries} entries with slapadd in ${((performance.now() - started) / 1000).toFixed(1)} s; database: ${target.name}`);
const db = await target.open();
try {
  const config = ldapConfigSchema.parse({ url: slapd.url, bindDn: slapd.rootDn, bindPassword: slapd.rootPassword, baseDn: slapd.baseDn });
  const full = await measured(() => syncCatalogue(db, config, { mode: 'full', now }));
  rows.push({
    measure: `full sync: ${PERSONS} persons, ${region.employees.length} service identities, ${region.commissions.length} commissions`,
    seconds: full.seconds,
    'entries/s': Math.round(entries / full.seconds),
    'peak RSS MiB': Math.round(full.peakRssMiB),
    'heap growth MiB': Math.round(full.heapGrowthMiB),
  });
  const split = (label: string, ms: number) => rows.push({ measure: `  of which ${label}`, seconds: ms / 1000 });
  split('LDAP read (paged search, mapping)', full.result.durations.ldapMs);
  split('SQL: loading the current directory', full.result.durations.loadMs);
  split('planning (pure)', full.result.durations.planMs);
  split('SQL: writing rows, history and run record', full.result.durations.writeMs);

  const admin = new Client({ url: slapd.url });
  await admin.bind(slapd.rootDn, slapd.rootPassword);
  const changeMail = (dn: string, mail: string) => admin.modify(dn, [new Change({ operation: 'replace', modification: new Attribute({ type: 'mail', values: [mail] }) })]);
  // The watermark is inclusive (no change made in its second may be missed), so the first incremental run after a
  // bulk load re-reads everything stamped in that second. One warm-up change and run moves it on, as in steady state.
  const warmUp = region.employees.at(-1)!;
  await changeMail((await admin.search(slapd.baseDn, { filter: `(hsaIdentity=${warmUp.hsaId})`, attributes: ['1.1'] })).searchEntries[0]!.dn, 'warm-up@bench.example');
  await syncCatalogue(db, config, { mode: 'incremental', now });
  started = performance.now();
  const changed = region.employees.slice(0, CHANGES);
  const dns = await Promise.all(changed.map(async (e) => (await admin.search(slapd.baseDn, { filter: `(hsaIdentity=${e.hsaId})`, attributes: ['1.1'] })).searchEntries[0]!.dn));
  for (const [i, dn] of dns.entries()) await changeMail(dn, `changed${i}@bench.example`);
  await admin.unbind();
  console.log(`made ${CHANGES} changes in slapd in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  const incremental = await measured(() => syncCatalogue(db, config, { mode: 'incremental', now }));
  if (incremental.result.report.counts.serviceIdentities.changed !== CHANGES) throw new Error(`incremental sync saw ${incremental.result.report.counts.serviceIdentities.changed} changes, expected ${CHANGES}`);
  const read = Object.values(incremental.result.report.fetched).reduce((a, b) => a + b, 0);
  rows.push({ measure: `incremental sync: ${CHANGES} changed entries (${read} entries read, the tree included)`, seconds: incremental.seconds, 'entries/s': Math.round(CHANGES / incremental.seconds), 'peak RSS MiB': Math.round(incremental.peakRssMiB), 'heap growth MiB': Math.round(incremental.heapGrowthMiB) });
} finally {
  await slapd.stop();
}

try {
  // Top up to the lookup size with plain SQL: the lookup, not the generator, is measured here.
  const extra = Math.max(0, LOOKUP_PERSONS - PERSONS);
  started = performance.now();
  const organisation = region.organisations[0]!.hsaId;
  const unit = region.units.find((u) => u.organisationHsaId === organisation && u.careUnit)!.hsaId;
  await db.query(
    `insert into directory_person (personnummer, given_name, surname, search_name, created_at, updated_at)
     select (300000000000 + g)::text, 'Bench', 'Person ' || g, ' bench person ' || g, now(), now() from generate_series(1, $1::int) g`,
    [extra],
  );
  await db.query(
    `insert into directory_service_identity (hsa_id, person_id, organisation_hsa_id, unit_hsa_id, valid_from, updated_at)
     select 'SE2321000008-B' || p.id, p.id, $1, $2, now(), now() from directory_person p where p.personnummer like '3%'`,
    [organisation, unit],
  );
  await db.query(
    `insert into directory_commission (hsa_id, service_identity_hsa_id, name, purpose, rights, care_provider_hsa_id, care_unit_hsa_id, valid_from, updated_at)
     select s.hsa_id || 'C' || k, s.hsa_id, 'Bench', 'Vård och behandling', '[{"activity":"Läsa","informationType":"Alla","scope":"Vårdgivare"}]', $1, $2, now(), now()
       from directory_service_identity s, generate_series(0, 2) k where s.hsa_id like 'SE2321000008-B%'`,
    [organisation, unit],
  );
  await db.query('analyze');
  const [{ persons, commissions }] = (await db.query<{ persons: number; commissions: number }>(
    `select (select count(*) from directory_person) as persons, (select count(*) from directory_commission) as commissions`,
  )) as [{ persons: number; commissions: number }];
  console.log(`topped up to ${persons} persons, ${commissions} commissions in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  const sample = await db.query<{ personnummer: string }>(`select personnummer from directory_person order by random() limit $1`, [LOOKUPS]);
  for (const { personnummer } of sample.slice(0, 200)) await loginAttributes(db, personnummer);
  const timings: number[] = [];
  for (const { personnummer } of sample) {
    const t = performance.now();
    const found = await loginAttributes(db, personnummer);
    timings.push(performance.now() - t);
    if (!found) throw new Error(`lookup lost ${personnummer}`);
  }
  rows.push({ measure: `login attribute lookup, ${persons} persons (${target.name}), ${LOOKUPS} lookups`, 'p50 ms': percentile(timings, 50), 'p99 ms': percentile(timings, 99) });
  const queries = region.register.slice(0, SEARCHES).map((r, i) => (i % 2 ? r.surname.slice(0, 4) : `${r.givenName} ${r.surname.slice(0, 3)}`));
  const searchTimings: number[] = [];
  for (const query of queries) {
    const t = performance.now();
    await searchPersons(db, query, { mayViewProtectedIdentities: false }, 50);
    searchTimings.push(performance.now() - t);
  }
  rows.push({ measure: `name search (word prefixes, Swedish case), ${persons} persons, ${SEARCHES} searches`, 'p50 ms': percentile(searchTimings, 50), 'p99 ms': percentile(searchTimings, 99) });
} finally {
  await db.close();
}

printTable('Directory', rows);
