import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import Fastify, { type FastifyInstance } from 'fastify';
import { databaseTargets } from '../../../test/support/stores.ts';
import { loadConfig } from '../../config/index.ts';
import type { Region } from '../../directory/index.ts';
import type { Database } from '../../store/index.ts';
import { apiRoutes, openApiDocument } from '../api/routes.ts';
import type { CardContext } from '../cards/context.ts';
import { appointRole } from '../role-store.ts';
import { employeesOf, seedTestRegion } from '../testing.ts';

const now = new Date('2026-05-01T09:00:00Z');

/** Splits RFC 4180 CSV (quoted cells with doubled quotes, CRLF) into rows of cells. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') (cell += '"'), i++;
      else if (c === '"') quoted = false;
      else cell += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') row.push(cell), (cell = '');
    else if (c === '\r' && text[i + 1] === '\n') row.push(cell), rows.push(row), (row = []), (cell = ''), i++;
    else cell += c;
  }
  return rows;
}

for (const target of databaseTargets()) {
  describe(`reports in the portal API (${target.name})`, () => {
    let db: Database;
    let app: FastifyInstance;
    let region: Region;
    let orgA: string;
    let orgB: string;
    const tokens = new Map<string, string>();
    const call = async (who: string | null, url: string) => {
      const answer = await app.inject({ url: `/portal/api${url}`, headers: who ? { authorization: `Bearer ${who}` } : {} });
      return { status: answer.statusCode, headers: answer.headers, text: answer.body, json: () => JSON.parse(answer.body) as any };
    };
    /** Cards the test writes: orgA gets `n` ordered test cards and one whose holder field carries a formula. */
    const written = { ordered: 5, hostile: '=HYPERLINK("http://evil.example","x")' };

    before(async () => {
      db = await target.open();
      region = await seedTestRegion(db, now);
      [orgA, orgB] = region.organisations.map((o) => o.hsaId) as [string, string];
      const a = employeesOf(region, orgA);
      await appointRole(db, { operator: 't' }, { holder: a[0]!.hsaId, role: 'security-officer', organisation: orgA, unit: null, trainedOn: null }, now);
      await appointRole(db, { operator: 't' }, { holder: a[1]!.hsaId, role: 'id-administrator', organisation: orgA, unit: null, trainedOn: now }, now);
      tokens.set('officer', a[0]!.hsaId).set('admin', a[1]!.hsaId);
      const insert = (holder: string, at: string) =>
        db.query(
          `insert into portal_card (kind, loa, personnummer, holder_hsa_id, organisation_hsa_id, status, ordered_by, ordered_at, updated_at) values ('test', null, $1, $2, $3, 'ordered', 't', $4, $4)`,
          [a[2]!.personnummer, holder, orgA, at],
        );
      for (let i = 0; i < written.ordered; i++) await insert(a[2 + i]!.hsaId, `2026-0${1 + i}-10T10:00:00Z`);
      await insert(written.hostile, '2026-04-20T10:00:00Z');
      const config = loadConfig({ overrides: { dataDir: 'memory://' } });
      app = Fastify({ logger: false });
      await app.register(
        apiRoutes({
          cards: { db, pki: {} as CardContext['pki'], now: () => now, config: config.portal },
          signer: async () => {
            throw new Error('not used');
          },
          authenticate: async (request) => tokens.get(/^Bearer (.+)$/.exec(request.headers.authorization ?? '')?.[1] ?? '') ?? null,
        }),
      );
    });
    after(async () => {
      await app.close();
      await db.close();
    });

    it('answers JSON counts that match what was written, and the same as CSV', async () => {
      const json = await call('officer', `/reports/events?organisation=${orgA}&from=2026-01-01&to=2026-04-30&per=month&by=type,event`);
      assert.equal(json.status, 200, json.text);
      const body = json.json();
      assert.deepEqual(body.columns, ['period', 'type', 'event', 'count']);
      assert.deepEqual(
        body.rows.map((r: any) => `${r.period} ${r.count}`),
        ['2026-01 1', '2026-02 1', '2026-03 1', '2026-04 2'],
      );
      assert.equal(body.total, written.ordered + 1 - 1, 'the card ordered in May is outside the range');
      const csv = await call('officer', `/reports/events?organisation=${orgA}&from=2026-01-01&to=2026-04-30&per=month&by=type,event&format=csv`);
      assert.equal(csv.status, 200);
      assert.match(String(csv.headers['content-type']), /^text\/csv; charset=utf-8/);
      assert.match(String(csv.headers['content-disposition']), /^attachment; filename="tillit-events-counts-SE\w+-\w+-2026-01-01-2026-04-30\.csv"$/);
      const rows = parseCsv(csv.text);
      assert.deepEqual(rows[0], ['period', 'type', 'event', 'count']);
      assert.deepEqual(rows.slice(1).map((r) => `${r[0]} ${r[3]}`), ['2026-01 1', '2026-02 1', '2026-03 1', '2026-04 2']);
    });

    it('CSV listings keep a hostile cell as text: quoted, with a leading apostrophe', async () => {
      const csv = await call('officer', `/reports/status?organisation=${orgA}&view=listing&format=csv`);
      assert.equal(csv.status, 200, csv.text);
      assert.ok(csv.text.includes(`"'=HYPERLINK(""http://evil.example"",""x"")"`), csv.text);
      const rows = parseCsv(csv.text);
      assert.equal(rows.length, 1 + written.ordered + 1);
      const subject = rows[0]!.indexOf('subject');
      assert.ok(rows.slice(1).every((r) => !/^[=+\-@]/.test(r[subject]!)));
    });

    it('refuses without a token, without report.read, for another organisation, and bad parameters, naming them', async () => {
      assert.equal((await call(null, `/reports/status?organisation=${orgA}`)).status, 401);
      const admin = await call('admin', `/reports/status?organisation=${orgA}`);
      assert.equal(admin.status, 403);
      assert.match(admin.json().detail, /report\.read/);
      const other = await call('officer', `/reports/status?organisation=${orgB}`);
      assert.equal(other.status, 403);
      assert.match(other.json().detail, new RegExp(`report\\.read in ${orgB}`));
      for (const [query, pattern] of [
        ['&by=colour', /by: unknown grouping 'colour'/],
        ['&view=pie', /view/],
      ] as const) {
        const answer = await call('officer', `/reports/status?organisation=${orgA}${query}`);
        assert.equal(answer.status, 400, query);
        assert.match(answer.json().detail, pattern);
      }
      for (const [query, pattern] of [
        ['&from=2026-03-01&to=2026-02-01', /from: 2026-03-01 is after to/],
        ['&from=2026-13-01&to=2026-02-01', /from: '2026-13-01' is not a date/],
        ['&from=2026-01-01&to=2026-02-01&per=fortnight', /per/],
        ['&to=2026-02-01', /from/],
      ] as const) {
        const answer = await call('officer', `/reports/events?organisation=${orgA}${query}`);
        assert.equal(answer.status, 400, query);
        assert.match(answer.json().detail, pattern);
      }
    });

    it('lists both reports in the OpenAPI document, with CSV as an answer', () => {
      const paths = (openApiDocument() as any).paths;
      for (const path of ['/portal/api/reports/status', '/portal/api/reports/events']) {
        assert.ok(paths[path]?.get, path);
        assert.ok(paths[path].get.responses['200'].content['text/csv'], path);
        assert.ok(paths[path].get.parameters.some((p: any) => p.name === 'organisation' && p.required));
      }
      assert.ok(paths['/portal/api/reports/events'].get.parameters.some((p: any) => p.name === 'from' && p.required));
    });
  });
}
