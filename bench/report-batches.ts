// eID portal reports: what the summary triggers cost a big batch of cards
// written in one transaction, all landing on the same summary rows (one
// organisation, unit, type, LoA and day), as a production batch or a bulk
// order does. N = 10,000 and 40,000, in a fresh schema of the PostgreSQL at
// DATABASE_URL. Each batch is one statement, except the last row, which
// orders the cards one statement each (a PL/pgSQL loop, so no round trips).
// Sizes: BENCH_REPORT_BATCHES (default "10000,40000").
import { freshSchema } from '../test/support/schema.ts';
import { migrate, openDatabase, readMigrations } from '../src/store/index.ts';
import { printTable } from './support.ts';

const url = process.env['DATABASE_URL'];
if (!url) throw new Error('bench report-batches: set DATABASE_URL to a PostgreSQL database');
const SIZES = (process.env['BENCH_REPORT_BATCHES'] ?? '10000,40000').split(',').map(Number);

const schema = await freshSchema(url, 'bench_report_batches');
const db = await openDatabase({ dataDir: 'memory://', database: { url: schema.url, poolSize: 1 } });
const rows: Record<string, string | number>[] = [];
try {
  await migrate(db, await readMigrations());
  const order = (organisation: string, from: string, n: string) =>
    `insert into portal_card (kind, loa, personnummer, holder_hsa_id, organisation_hsa_id, unit_hsa_id, status, ordered_by, ordered_at, updated_at)
     select 'ordinary', 3, (190000000000 + g)::text, ${organisation} || '-H' || g, ${organisation}, ${organisation} || '-U', 'ordered', 'bench', timestamptz '2026-03-02T09:00:00Z', timestamptz '2026-03-02T09:00:00Z'
       from generate_series(${from}, ${n}) g`;
  const cases: [string, (organisation: string, n: number) => string][] = [
    ['order N cards (one insert)', (o, n) => order(`'${o}'`, '1', String(n))],
    ['send them to production (one update)', (o) => `update portal_card set status = 'in-production', updated_at = timestamptz '2026-03-03T09:00:00Z' where organisation_hsa_id = '${o}'`],
    ['delete them (one delete)', (o) => `delete from portal_card where organisation_hsa_id = '${o}'`],
    ['order N cards (one insert each)', (o, n) => `do $$ begin for i in 1..${n} loop ${order(`'${o}-loop'`, 'i', 'i')}; end loop; end $$`],
  ];
  for (const n of SIZES) {
    const organisation = `SE2321000099-B${n}`;
    for (const [label, sql] of cases) {
      const started = performance.now();
      await db.transaction((tx) => tx.query(sql(organisation, n)));
      rows.push({ batch: label, N: n, seconds: (performance.now() - started) / 1000 });
    }
  }
  const [counts] = await db.query<{ ordered: string; events: string }>(
    `select (select sum(count) from portal_report_status where status = 'ordered') as ordered, (select sum(count) from portal_report_event_day) as events`,
  );
  printTable(`report summaries: one transaction per batch, all its cards on the same summary rows (PostgreSQL; ${counts!.ordered} cards ordered now, ${counts!.events} events counted)`, rows);
} finally {
  await db.close();
  await schema.drop();
}
