import assert from 'node:assert/strict';
import { randomBytes, X509Certificate } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Fastify, { type FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { databaseTargets } from '../../../test/support/stores.ts';
import { enrollMobileEid, openKeyStore } from '../../app/index.ts';
import { createEnrolmentService, MAX_ACTIVE_MOBILE_EIDS } from '../../authn/index.ts';
import { loadConfig } from '../../config/index.ts';
import { openPki, type Pki } from '../../pki/index.ts';
import { createMemoryStore, type Database } from '../../store/index.ts';
import { apiRoutes, openApiDocument } from '../api/routes.ts';
import { functionUiRoutes } from '../function/ui.ts';
import { PORTAL_COOKIE } from '../ui/session.ts';
import { readAudit, verifyAudit, type AuditEntry } from '../audit.ts';
import { PortalRefused } from '../errors.ts';
import { employeesOf, seedTestRegion } from '../testing.ts';
import { myMobileEids, reportMyMobileEidLost, startMyEnrolment, type MobileSelfServiceContext } from './mobile.ts';

const refused = (kind: PortalRefused['kind'], pattern: RegExp) => (error: unknown) => {
  assert.ok(error instanceof PortalRefused, `expected PortalRefused, got ${String(error)}`);
  assert.equal(error.kind, kind, error.message);
  assert.match(error.message, pattern);
  return true;
};

async function auditEntries(db: Database): Promise<AuditEntry[]> {
  const entries: AuditEntry[] = [];
  for await (const entry of readAudit(db)) entries.push(entry);
  return entries;
}

for (const target of databaseTargets()) {
  describe(`self-service: my mobile eIDs, enrolment code, report lost (${target.name})`, () => {
    let db: Database;
    let pki: Pki;
    let context: MobileSelfServiceContext;
    let appDir: string;
    const clock = new Date();
    let me: { hsaId: string; personnummer: string };
    let someoneElse: { hsaId: string; personnummer: string };
    let theirSerial: string;
    let third: { hsaId: string; personnummer: string };
    let app: FastifyInstance;
    const session = { cookie: '', csrf: randomBytes(32).toString('base64url') };

    /** The eID app (src/app) enrols with a code the portal gave: a new key under a PIN, its CSR redeemed, the certificate kept. */
    const appEnrols = async (code: string, folder: string) => {
      const keys = await openKeyStore(join(appDir, folder));
      const enrolment = context.enrolment!;
      const enrolled = await enrollMobileEid(keys, '246810', async (csr) => enrolment.redeem(code, csr, `phone ${folder}`));
      return { keys, serial: new X509Certificate(enrolled.certificatePem).serialNumber.toLowerCase() };
    };

    before(async () => {
      db = await target.open();
      appDir = await mkdtemp(join(tmpdir(), 'tillit-mine-mobile-'));
      const region = await seedTestRegion(db, clock);
      const config = loadConfig({ overrides: { dataDir: 'memory://' } });
      pki = await openPki({ config, db, log: pino({ level: 'silent' }), now: () => clock });
      context = { db, pki, now: () => clock, enrolment: createEnrolmentService({ db, pki, now: () => clock }) };
      const staff = employeesOf(region, region.organisations[0]!.hsaId);
      [me, someoneElse] = [staff[0]!, staff.find((e) => e.personnummer !== staff[0]!.personnummer)!];
      theirSerial = (await appEnrols((await startMyEnrolment(context, someoneElse.hsaId)).code, 'theirs')).serial;
      third = staff.find((e) => ![me.personnummer, someoneElse.personnummer].includes(e.personnummer))!;
      const store = createMemoryStore();
      const id = randomBytes(32).toString('base64url');
      await store.set(`portal:session:${id}`, JSON.stringify({ hsaId: third.hsaId, name: 'Third', csrf: session.csrf, signedInAt: clock.getTime() }), 60_000);
      session.cookie = `${PORTAL_COOKIE}=${id}`;
      app = Fastify({ logger: false });
      await app.register(functionUiRoutes({ functions: { db, pki, now: () => clock }, selfService: context, ephemeral: store, idleMs: 60_000, trainingValidForDays: 365 }));
      await app.register(
        apiRoutes({
          cards: { db, pki, now: () => clock, config: config.portal },
          signer: async () => {
            throw new Error('not used here');
          },
          authenticate: async (request) => (request.headers.authorization === 'Bearer third' ? third.hsaId : null),
          enrolment: context.enrolment!,
        }),
      );
    });
    after(async () => {
      await app.close();
      await db.close();
      await rm(appDir, { recursive: true, force: true });
    });

    it('gives a code the eID app enrols with; the new mobile eID is listed as mine and active, nobody else\'s', async () => {
      assert.deepEqual(await myMobileEids(context, me.hsaId), []);
      const code = await startMyEnrolment(context, me.hsaId);
      assert.match(code.code, /^[0-9A-Z]{4}(-[0-9A-Z]{4}){3}$/);
      assert.equal(code.qr, `tillit-enrol.${code.code.replaceAll('-', '')}`);
      const { keys, serial } = await appEnrols(code.qr, 'first');
      assert.equal(keys.list().length, 1);
      const mine = await myMobileEids(context, me.hsaId);
      assert.deepEqual(mine.map((e) => [e.serial.toLowerCase(), e.status, e.deviceLabel]), [[serial, 'active', 'phone first']]);
      const audit = (await auditEntries(db)).filter((e) => e.action === 'self-service.mobile-eid-enrolment-code' && e.actor === me.hsaId);
      assert.equal(audit.length, 1);
      assert.ok(!JSON.stringify(audit).includes(code.code.replaceAll('-', '')), 'the audit trail never holds the code');
      await assert.rejects(myMobileEids(context, 'SE0000000000-NOBODY'), refused('forbidden', /not a current service identity/));
    });

    it(`refuses an enrolment beyond ${MAX_ACTIVE_MOBILE_EIDS} active mobile eIDs with the reason; no code is made, nothing issued`, async () => {
      for (const folder of ['second', 'third']) await appEnrols((await startMyEnrolment(context, me.hsaId)).code, folder);
      assert.equal((await myMobileEids(context, me.hsaId)).filter((e) => e.status === 'active').length, MAX_ACTIVE_MOBILE_EIDS);
      const [codesBefore] = await db.query<{ n: number }>('select count(*)::int as n from authn_enrolment_codes');
      await assert.rejects(startMyEnrolment(context, me.hsaId), refused('conflict', /already have 3 active mobile eIDs, the most allowed \(3\)/));
      const [codesAfter] = await db.query<{ n: number }>('select count(*)::int as n from authn_enrolment_codes');
      assert.equal(codesAfter!.n, codesBefore!.n);
      assert.equal((await myMobileEids(context, me.hsaId)).length, MAX_ACTIVE_MOBILE_EIDS);
    });

    it('reports my mobile eID lost: revoked at once in the PKI, recorded as a revocation request, audited; another\'s is not found and untouched', async () => {
      await assert.rejects(reportMyMobileEidLost(context, me.hsaId, theirSerial), refused('not-found', /you have no mobile eID/));
      assert.equal((await pki.status(theirSerial))?.status, 'good');
      const [lost] = await myMobileEids(context, me.hsaId);
      const reported = await reportMyMobileEidLost(context, me.hsaId, lost!.serial);
      const status = await pki.status(lost!.serial);
      assert.equal(status?.status, 'revoked');
      assert.equal(status?.reason, 'keyCompromise');
      const [request] = await db.query<{ card_id: number | null; channel: string; reason: string; reported_by: string; serials: string[]; personnummer: string }>(
        'select card_id, channel, reason, reported_by, serials, personnummer from portal_revocation where id = $1',
        [reported.revocationId],
      );
      assert.deepEqual(request, { card_id: null, channel: 'self-service', reason: 'lost', reported_by: me.hsaId, serials: [lost!.serial], personnummer: me.personnummer });
      const entry = (await auditEntries(db)).find((e) => e.action === 'self-service.report-mobile-eid-lost' && e.target === `mobile-eid:${lost!.serial}`);
      assert.equal(entry?.actor, me.hsaId);
      assert.equal((await myMobileEids(context, me.hsaId)).find((e) => e.serial === lost!.serial)?.status, 'revoked');
      await assert.rejects(reportMyMobileEidLost(context, me.hsaId, lost!.serial), refused('conflict', /is revoked/));
      // One of three revoked: a new enrolment is allowed again.
      await appEnrols((await startMyEnrolment(context, me.hsaId)).code, 'fourth');
      assert.equal((await verifyAudit(db)).ok, true);
    });

    it('the pages and the API do the same for the signed-in person, with the CSRF token, in Swedish and English', async () => {
      const get = (url: string, lang = 'sv') => app.inject({ method: 'GET', url, headers: { cookie: `${session.cookie}; tillit_lang=${lang}` } });
      const post = (url: string, csrf = session.csrf) =>
        app.inject({ method: 'POST', url, headers: { cookie: session.cookie, 'content-type': 'application/x-www-form-urlencoded' }, payload: new URLSearchParams({ _csrf: csrf }).toString() });
      assert.match((await get('/portal/mine')).body, /Du har inga mobila e-legitimationer/);
      assert.match((await get('/portal/mine', 'en')).body, /You have no mobile eIDs/);
      assert.equal((await post('/portal/mine/mobile-eids/enrolment', 'forged')).statusCode, 403);
      assert.deepEqual(await myMobileEids(context, third.hsaId), []);
      const shown = await post('/portal/mine/mobile-eids/enrolment');
      assert.equal(shown.statusCode, 200);
      assert.equal(shown.headers['cache-control'], 'no-store');
      const code = /id="tillit-mine-enrolment-code">([0-9A-Z-]+)</.exec(shown.body)?.[1];
      assert.ok(code, 'the page shows the code as text');
      assert.match(shown.body, /<img id="tillit-mine-enrolment-qr" src="data:image\/svg\+xml;base64,[A-Za-z0-9+/=]+"/);
      const { serial } = await appEnrols(code, 'web');
      const page = (await get('/portal/mine')).body;
      assert.match(page, new RegExp(`${serial}[^<]*</td><td>[^<]*</td><td>[^<]*</td><td>Aktiv</td>`, 'i'));
      assert.match((await get('/portal/mine', 'en')).body, /My mobile eIDs/);

      const api = (method: 'GET' | 'POST', url: string, who: string | null = 'third') => app.inject({ method, url: `/portal/api${url}`, headers: who ? { authorization: `Bearer ${who}` } : {} });
      assert.equal((await api('GET', '/mine/mobile-eids', null)).statusCode, 401);
      const listed = await api('GET', '/mine/mobile-eids');
      assert.equal(listed.statusCode, 200);
      const listedSerial = (JSON.parse(listed.body) as { serial: string; status: string }[])[0]!;
      assert.equal(listedSerial.status, 'active');
      const issued = await api('POST', '/mine/mobile-eids/enrolment');
      assert.equal(issued.statusCode, 201);
      assert.match((JSON.parse(issued.body) as { qr: string }).qr, /^tillit-enrol\./);
      const theirs = await api('POST', `/mine/mobile-eids/${theirSerial}/lost`);
      assert.equal(theirs.statusCode, 404);
      assert.equal((await pki.status(theirSerial))?.status, 'good');
      assert.equal((await post(`/portal/mine/mobile-eids/${listedSerial.serial}/lost`, 'forged')).statusCode, 403);
      const lost = await post(`/portal/mine/mobile-eids/${listedSerial.serial}/lost`);
      assert.equal(lost.statusCode, 303);
      assert.match((await get('/portal/mine')).body, /Det mobila eID:t är spärrat/);
      assert.equal((await pki.status(listedSerial.serial))?.status, 'revoked');
      const paths = (openApiDocument() as { paths: Record<string, Record<string, unknown>> }).paths;
      for (const [path, method] of [['/portal/api/mine/mobile-eids', 'get'], ['/portal/api/mine/mobile-eids/enrolment', 'post'], ['/portal/api/mine/mobile-eids/{serial}/lost', 'post']] as const) assert.ok(paths[path]?.[method], `${method} ${path}`);
    });
  });
}
