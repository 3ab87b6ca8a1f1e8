import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import Fastify, { type FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { databaseTargets } from '../../../test/support/stores.ts';
import { openssl, opensslCsr, scratch } from '../../../test/support/openssl.ts';
import { loadConfig } from '../../config/index.ts';
import type { FunctionObject } from '../../directory/index.ts';
import { openPki } from '../../pki/index.ts';
import { createMemoryStore, type Database, type EphemeralStore } from '../../store/index.ts';
import { appointRole } from '../role-store.ts';
import { employeesOf, seedTestRegion } from '../testing.ts';
import { PORTAL_COOKIE } from '../ui/session.ts';
import { validateDomain } from './domains.ts';
import { authoriseOrderer } from './orderers.ts';
import { functionUiRoutes } from './ui.ts';

for (const target of databaseTargets()) {
  describe(`portal pages: order and download function certificates, my pages (${target.name})`, () => {
    let db: Database;
    let app: FastifyInstance;
    let store: EphemeralStore;
    let object: FunctionObject;
    const clock = new Date();
    const files = scratch();
    const sessions: Record<string, { cookie: string; csrf: string }> = {};
    /** A portal session as sign-in leaves it (sign-in itself is tested with the IdP in Chromium). */
    const signIn = async (name: string, hsaId: string) => {
      const id = randomBytes(32).toString('base64url');
      const csrf = randomBytes(32).toString('base64url');
      await store.set(`portal:session:${id}`, JSON.stringify({ hsaId, name, csrf, signedInAt: clock.getTime() }), 60_000);
      sessions[name] = { cookie: `${PORTAL_COOKIE}=${id}`, csrf };
    };
    const get = (who: string, url: string, lang = 'sv') => app.inject({ method: 'GET', url, headers: { cookie: `${sessions[who]!.cookie}; tillit_lang=${lang}` } });
    const post = (who: string, url: string, fields: Record<string, string>, csrf = sessions[who]!.csrf) =>
      app.inject({ method: 'POST', url, headers: { cookie: sessions[who]!.cookie, 'content-type': 'application/x-www-form-urlencoded' }, payload: new URLSearchParams({ _csrf: csrf, ...fields }).toString() });

    before(async () => {
      db = await target.open();
      store = createMemoryStore();
      const region = await seedTestRegion(db, clock);
      object = region.functionObjects[0]!;
      const organisation = object.organisationHsaId;
      const config = loadConfig({ overrides: { dataDir: 'memory://' } });
      const pki = await openPki({ config, db, log: pino({ level: 'silent' }), now: () => clock });
      const functions = { db, pki, now: () => clock };
      const staff = employeesOf(region, organisation);
      const operator = { operator: 'test' };
      await appointRole(db, operator, { holder: staff[0]!.hsaId, role: 'function-certificate-orderer', organisation, unit: null, trainedOn: null }, clock);
      await appointRole(db, operator, { holder: staff[1]!.hsaId, role: 'validation-specialist', organisation, unit: null, trainedOn: null }, clock);
      await validateDomain(functions, operator, { organisation, domain: object.dnsNames[0]!.split('.').slice(1).join('.'), method: 'dns-txt', evidence: 'TXT', validUntil: new Date(clock.getTime() + 30 * 86_400_000) });
      await authoriseOrderer(functions, operator, object.hsaId, staff[0]!.hsaId);
      await signIn('orderer', staff[0]!.hsaId);
      await signIn('stranger', staff[1]!.hsaId);
      app = Fastify({ logger: false });
      await app.register(functionUiRoutes({ functions, selfService: functions, ephemeral: store, idleMs: 60_000, trainingValidForDays: 365 }));
    });
    after(async () => {
      files.done();
      await app.close();
      await db.close();
    });

    it('orders from a pasted CSR and downloads the chain and the PKCS#7, in Swedish and English; refusals shown with the reason', async () => {
      const page = await get('orderer', '/portal/function-certificates');
      assert.equal(page.statusCode, 200);
      assert.match(page.body, /Funktionscertifikat/);
      assert.match(page.body, new RegExp(`<option value="${object.hsaId}">`));
      assert.match((await get('orderer', `/portal/function-certificates?q=${encodeURIComponent(object.name.split(' ')[0]!)}`)).body, new RegExp(object.hsaId));
      assert.match((await get('orderer', '/portal/function-certificates?q=no-such-server')).body, /Inget av dina funktionsobjekt/);
      assert.match((await get('orderer', '/portal/function-certificates', 'en')).body, /Function certificates/);
      assert.match((await get('stranger', '/portal/function-certificates')).body, /inte behörig beställare/);

      const csrPem = opensslCsr(files, 'ui', { subject: `/CN=ui/serialNumber=${object.hsaId}`, san: `DNS:${object.dnsNames[0]}` });
      assert.equal((await post('orderer', '/portal/function-certificates', { functionObject: object.hsaId, profile: 'function-server', csr: csrPem }, 'forged')).statusCode, 403);
      const wrong = opensslCsr(files, 'ui-wrong', { subject: `/CN=ui/serialNumber=${object.hsaId}`, san: 'DNS:www.elsewhere.example' });
      assert.equal((await post('orderer', '/portal/function-certificates', { functionObject: object.hsaId, profile: 'function-server', csr: wrong })).statusCode, 303);
      assert.match((await get('orderer', '/portal/function-certificates')).body, /www\.elsewhere\.example is outside every validated domain/);
      const ordered = await post('orderer', '/portal/function-certificates', { functionObject: object.hsaId, profile: 'function-server', csr: csrPem });
      assert.equal(ordered.headers.location, '/portal/function-certificates');
      const after = (await get('orderer', '/portal/function-certificates')).body;
      const serial = /Certifikatet är utfärdat: ([0-9a-f]+)/.exec(after)?.[1];
      assert.ok(serial, after);

      const pem = await get('orderer', `/portal/function-certificates/${serial}.pem`);
      assert.equal(pem.headers['content-type'], 'application/pem-certificate-chain');
      files.file('ui-chain.pem', pem.body);
      files.file('ui-root.pem', pem.body.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g)!.at(-1)!);
      assert.match(openssl(['verify', '-CAfile', files.path('ui-root.pem'), '-untrusted', files.path('ui-chain.pem'), files.path('ui-chain.pem')]).output, /OK/);
      const p7 = await get('orderer', `/portal/function-certificates/${serial}.p7b`);
      files.file('ui.p7b', p7.rawPayload);
      assert.equal(openssl(['pkcs7', '-inform', 'DER', '-in', files.path('ui.p7b'), '-print_certs', '-noout']).output.match(/^subject=/gm)?.length, 3);
      assert.equal((await get('stranger', `/portal/function-certificates/${serial}.pem`)).statusCode, 403);

      const renewCsr = opensslCsr(files, 'ui-renew', { subject: `/CN=ui/serialNumber=${object.hsaId}`, san: `DNS:${object.dnsNames[0]}` });
      await post('orderer', `/portal/function-certificates/${serial}/renew`, { csr: renewCsr });
      const renewedPage = (await get('orderer', '/portal/function-certificates')).body;
      const next = new RegExp(`Nytt certifikat utfärdat[^:]*: ([0-9a-f]+) \\(${serial}\\)`).exec(renewedPage)?.[1];
      assert.ok(next, renewedPage);
      assert.equal((await get('orderer', `/portal/function-certificates/${next}.pem`)).statusCode, 200);
      assert.match((await get('orderer', '/portal/function-certificates')).body, /Spärrat \(superseded\)/);
      await post('orderer', `/portal/function-certificates/${next}/revoke`, { reason: 'keyCompromise' });
      assert.match((await get('orderer', '/portal/function-certificates')).body, /Spärrat \(keyCompromise\)/);
    });

    it('the validation specialist records a domain on the page and sees the failing function objects; others see they hold no such role', async () => {
      assert.match((await get('orderer', '/portal/domains')).body, /inte valideringsspecialist/);
      const page = (await get('stranger', '/portal/domains')).body;
      assert.match(page, /Domänvalidering/);
      assert.match(page, new RegExp(`${object.dnsNames[0]!.split('.').slice(1).join('\\.')}`));
      const until = new Date(clock.getTime() + 60 * 86_400_000).toISOString().slice(0, 10);
      await post('stranger', '/portal/domains', { organisation: object.organisationHsaId, domain: 'evil*.example', method: 'dns-txt', evidence: 'TXT', validUntil: until });
      assert.match((await get('stranger', '/portal/domains')).body, /is not a domain name/);
      await post('stranger', '/portal/domains', { organisation: object.organisationHsaId, domain: 'mail.region.example', method: 'registry-document', evidence: 'registrar letter 2026-11', validUntil: until });
      const after = (await get('stranger', '/portal/domains')).body;
      assert.match(after, /Domänen är validerad: mail\.region\.example/);
      assert.match(after, /registrar letter 2026-11/);
    });

    it('my pages say when there are no cards, and refuse another\'s card with the reason', async () => {
      assert.match((await get('orderer', '/portal/mine')).body, /Du har inga kort/);
      assert.match((await get('orderer', '/portal/mine', 'en')).body, /You have no cards/);
      await post('orderer', '/portal/mine/cards/424242/lost', {});
      assert.match((await get('orderer', '/portal/mine')).body, /you have no card 424242/);
    });
  });
}
