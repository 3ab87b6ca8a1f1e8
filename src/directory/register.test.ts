import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { databaseTargets } from '../../test/support/stores.ts';
import type { Database } from '../store/index.ts';
import { applyCatalogueBatch, presentIn } from './catalogue-sync.ts';
import { registerConfigSchema } from './config.ts';
import { generateRegion } from './generate.ts';
import { findPerson, searchPersons } from './reads.ts';
import { RegisterUnavailableError } from './register.ts';
import { extractRegister, parseRegisterExtract, toRegisterJsonLines } from './register-file.ts';
import { httpRegister } from './register-http.ts';
import { syncFromRegister } from './register-sync.ts';
import { WHOLE_DIRECTORY } from './store-sql.ts';

const TODAY = new Date('2026-06-01T00:00:00Z');
const ADMIN = { mayViewProtectedIdentities: true };

describe('register extract files', () => {
  it('reads CSV with quoted fields, a BOM and CRLF line ends', () => {
    const csv = '\uFEFFpersonnummer,givenName,surname,protectedIdentity,deceased,newPersonnummer\r\n191212121212,"Tolvan, Jr","Tolvansson ""T""",true,0,\r\n';
    const { records, refused } = parseRegisterExtract(csv, 'csv', TODAY);
    assert.deepEqual(refused, []);
    assert.deepEqual(records.get('191212121212'), {
      personnummer: '191212121212',
      givenName: 'Tolvan, Jr',
      surname: 'Tolvansson "T"',
      protectedIdentity: true,
      deceased: false,
      newPersonnummer: null,
    });
  });

  it('refuses bad lines with their line number and keeps the good ones', () => {
    const lines = [
      JSON.stringify({ personnummer: '191212121212', givenName: 'Tolvan', surname: 'Tolvansson' }),
      JSON.stringify({ personnummer: '191212121213', givenName: 'Fel', surname: 'Kontrollsiffra' }),
      '{not json',
      JSON.stringify({ personnummer: '197010632391', givenName: '', surname: 'Namnlös' }),
      JSON.stringify({ personnummer: '191212121212', givenName: 'Två', surname: 'Gånger' }),
      JSON.stringify({ personnummer: '197010632391', givenName: 'Sam', surname: 'Ordning', newPersonnummer: '19701003239x' }),
      JSON.stringify({ personnummer: '197010632391', givenName: 'Sam', surname: 'Ordning', extra: 1 }),
      JSON.stringify({ personnummer: '197010632391', givenName: 'Sam', surname: 'Ordning', deceased: 'kanske' }),
      '',
      JSON.stringify({ personnummer: '197010632391', givenName: 'Sam', surname: 'Ordning' }),
    ];
    const { records, refused } = parseRegisterExtract(lines.join('\n'), 'jsonl', TODAY);
    assert.deepEqual([...records.keys()], ['191212121212', '197010632391']);
    assert.deepEqual(refused.map((r) => r.line), [2, 3, 4, 5, 6, 7, 8]);
    assert.match(refused[0]!.reason, /checksum/);
    assert.match(refused[3]!.reason, /appeared earlier/);
  });

  it('refuses a CSV whose header lacks a column, and rows of the wrong width', () => {
    assert.match(parseRegisterExtract('personnummer,givenName\n191212121212,Tolvan\n', 'csv', TODAY).refused[0]!.reason, /header lacks surname/);
    const wrongWidth = parseRegisterExtract('personnummer,givenName,surname\n191212121212,Tolvan\n191212121212,"Tolvan,x\n', 'csv', TODAY);
    assert.match(wrongWidth.refused[0]!.reason, /2 fields, the header has 3/);
    assert.match(wrongWidth.refused[1]!.reason, /not closed/);
  });
});

/** A small register service: answers from `records`, with scripted misbehaviour per personnummer. */
function registerServer(records: Map<string, object>, misbehave: Map<string, ('503' | 'hang' | 'garbage' | 'other-person' | '401')[]>) {
  const requests: string[] = [];
  const handler = (req: IncomingMessage, res: ServerResponse) => {
    const personnummer = decodeURIComponent(req.url!.replace(/^\/persons\//, ''));
    requests.push(personnummer);
    if (req.headers.authorization !== 'Bearer test-key') return void res.writeHead(401).end();
    const next = misbehave.get(personnummer)?.shift();
    if (next === 'hang') return; // never answers; the client's timeout must fire
    if (next === '503') return void res.writeHead(503).end();
    if (next === '401') return void res.writeHead(401).end();
    if (next === 'garbage') return void res.writeHead(200, { 'content-type': 'application/json' }).end('<html>');
    if (next === 'other-person') return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ ...records.values().next().value, personnummer: '191212121212' }));
    const record = records.get(personnummer);
    if (!record) return void res.writeHead(404).end();
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(record));
  };
  const server: Server = createServer(handler);
  return {
    requests,
    async start() {
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      return `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    },
    async stop() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

for (const target of databaseTargets()) {
  describe(`population register into ${target.name}`, () => {
    const region = generateRegion({ persons: 12, seed: 'register-test' });
    let db: Database;
    const now = () => TODAY;
    type Row = (typeof region.register)[number];
    const [renamed, hidden, gone, flaky, slow] = region.register.slice(0, 5) as [Row, Row, Row, Row, Row];

    before(async () => {
      db = await target.open();
      await applyCatalogueBatch(db, region, presentIn(region), WHOLE_DIRECTORY, { mode: 'full', now, watermark: null, refused: [] });
    });
    after(() => db.close());

    it('updates from the HTTP service with retries and timeouts, and marks unknown persons missing', async () => {
      const records = new Map<string, object>(region.register.filter((r) => r !== gone).map((r) => [r.personnummer, r]));
      records.set(renamed.personnummer, { ...renamed, surname: 'Nyström' });
      records.set(hidden.personnummer, { ...hidden, protectedIdentity: true });
      const server = registerServer(records, new Map([[flaky.personnummer, ['503', '503']], [slow.personnummer, ['hang']]]));
      const url = await server.start();
      try {
        const config = registerConfigSchema.parse({ url, apiKey: 'test-key', timeoutMs: 300, retries: 2, retryDelayMs: 0, concurrency: 3 });
        const report = await syncFromRegister(db, httpRegister({ ...config, url }, { today: now }), { now, mode: 'http' });
        assert.equal(report.checked, 12);
        assert.equal(report.markedMissing, 1);
        assert.equal(server.requests.filter((p) => p === flaky.personnummer).length, 3, 'two 503s, then an answer');
        assert.equal(server.requests.filter((p) => p === slow.personnummer).length, 2, 'one timeout, then an answer');
        assert.equal((await findPerson(db, renamed.personnummer, ADMIN))?.surname, 'Nyström');
        assert.ok((await searchPersons(db, 'nyström', ADMIN)).some((p) => p.personnummer === renamed.personnummer), 'search follows the new name');
        assert.equal(await findPerson(db, hidden.personnummer, { mayViewProtectedIdentities: false }), null);
        assert.ok((await findPerson(db, gone.personnummer, ADMIN))?.missingFromRegisterSince);
      } finally {
        await server.stop();
      }
    });

    it('changes nothing when the service fails for good, answers nonsense, or refuses the key', async () => {
      const before = JSON.stringify(await db.query('select * from directory_person order by personnummer'));
      const records = new Map<string, object>(region.register.map((r) => [r.personnummer, r]));
      for (const [failure, expected] of [
        [['503', '503', '503'], /did not answer after 3 attempts \(last: HTTP 503\)/],
        [['garbage'], /not JSON/],
        [['other-person'], /another person than asked/],
        [['401'], /HTTP 401.*check the URL and API key/],
      ] as const) {
        const server = registerServer(records, new Map([[flaky.personnummer, [...failure]]]));
        const url = await server.start();
        try {
          const config = registerConfigSchema.parse({ url, apiKey: 'test-key', timeoutMs: 1000, retries: 2, retryDelayMs: 0 });
          await assert.rejects(syncFromRegister(db, httpRegister({ ...config, url }), { now, mode: 'http' }), (error: Error) => {
            assert.ok(error instanceof RegisterUnavailableError, String(error));
            assert.match(error.message, expected);
            assert.ok(!error.message.includes('test-key'));
            return true;
          });
        } finally {
          await server.stop();
        }
      }
      assert.equal(JSON.stringify(await db.query('select * from directory_person order by personnummer')), before);
    });

    it('an extract covering everyone brings a missing person back', async () => {
      const extract = parseRegisterExtract(toRegisterJsonLines(region.register), 'jsonl', TODAY);
      const report = await syncFromRegister(db, extractRegister(extract), { now, mode: 'extract' });
      assert.equal(report.returned, 1);
      assert.equal((await findPerson(db, gone.personnummer, ADMIN))?.missingFromRegisterSince, null);
    });
  });
}
