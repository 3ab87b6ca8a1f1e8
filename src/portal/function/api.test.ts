import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import Fastify, { type FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { databaseTargets } from '../../../test/support/stores.ts';
import { openssl, opensslCsr, scratch } from '../../../test/support/openssl.ts';
import { loadConfig } from '../../config/index.ts';
import type { FunctionObject } from '../../directory/index.ts';
import { openPki } from '../../pki/index.ts';
import type { Database } from '../../store/index.ts';
import { apiRoutes, openApiDocument } from '../api/routes.ts';
import { appointRole } from '../role-store.ts';
import { employeesOf, seedTestRegion } from '../testing.ts';

for (const target of databaseTargets()) {
  describe(`portal API: function certificates and domains (${target.name})`, () => {
    let db: Database;
    let app: FastifyInstance;
    let object: FunctionObject;
    let organisation: string;
    const clock = new Date();
    const files = scratch();
    const tokens = new Map<string, string>();
    const call = async (who: string | null, method: 'GET' | 'POST' | 'DELETE', url: string, body?: unknown) => {
      const answer = await app.inject({ method, url: `/portal/api${url}`, headers: who ? { authorization: `Bearer ${who}` } : {}, ...(body !== undefined ? { payload: body as object } : {}) });
      return { status: answer.statusCode, body: answer.body ? (JSON.parse(answer.body) as any) : null };
    };

    before(async () => {
      db = await target.open();
      const region = await seedTestRegion(db, clock);
      object = region.functionObjects[0]!;
      organisation = object.organisationHsaId;
      const config = loadConfig({ overrides: { dataDir: 'memory://' } });
      const pki = await openPki({ config, db, log: pino({ level: 'silent' }), now: () => clock });
      const staff = employeesOf(region, organisation);
      const operator = { operator: 'test' };
      await appointRole(db, operator, { holder: staff[0]!.hsaId, role: 'responsible-issuer', organisation, unit: null, trainedOn: null }, clock);
      await appointRole(db, operator, { holder: staff[1]!.hsaId, role: 'function-certificate-orderer', organisation, unit: null, trainedOn: null }, clock);
      await appointRole(db, operator, { holder: staff[2]!.hsaId, role: 'validation-specialist', organisation, unit: null, trainedOn: null }, clock);
      tokens.set('issuer', staff[0]!.hsaId).set('orderer', staff[1]!.hsaId).set('specialist', staff[2]!.hsaId);
      app = Fastify({ logger: false });
      await app.register(
        apiRoutes({
          cards: { db, pki, now: () => clock, config: config.portal },
          signer: async () => {
            throw new Error('not used here');
          },
          authenticate: async (request) => tokens.get(/^Bearer (.+)$/.exec(request.headers.authorization ?? '')?.[1] ?? '') ?? null,
          functions: { db, pki, now: () => clock },
        }),
      );
    });
    after(async () => {
      files.done();
      await app.close();
      await db.close();
    });

    it('lists the routes in the OpenAPI document generated from their schemas', () => {
      const paths = (openApiDocument() as { paths: Record<string, Record<string, any>> }).paths;
      assert.deepEqual(paths['/portal/api/function-certificates']?.['post']?.requestBody.content['application/json'].schema.properties.profile.enum, ['function-server', 'function-client', 'function-email']);
      assert.ok(paths['/portal/api/domains']?.['post']);
      assert.ok(paths['/portal/api/function-certificates/{serial}/download']?.['get']);
      assert.ok(paths['/portal/api/mine/cards/{id}/extend']?.['post']);
    });

    it('self-service answers only about the caller\'s own eIDs', async () => {
      assert.equal((await call(null, 'GET', '/mine/eids')).status, 401);
      const mine = await call('orderer', 'GET', '/mine/eids');
      assert.equal(mine.status, 200);
      assert.deepEqual(mine.body, []);
      const lost = await call('orderer', 'POST', '/mine/cards/999999/lost');
      assert.equal(lost.status, 404);
      assert.match(lost.body.detail, /you have no card 999999/);
    });

    it('checks the role on the server for every step, and takes the whole order through the API', async () => {
      const domain = object.dnsNames[0]!.split('.').slice(1).join('.');
      const claim = { organisation, domain, method: 'dns-txt', evidence: 'TXT tillit=abc', validUntil: new Date(clock.getTime() + 30 * 86_400_000).toISOString() };
      assert.equal((await call(null, 'POST', '/domains', claim)).status, 401);
      const forbidden = await call('orderer', 'POST', '/domains', claim);
      assert.equal(forbidden.status, 403);
      assert.match(forbidden.body.detail, /domain\.validate/);
      assert.equal((await call('specialist', 'POST', '/domains', { ...claim, method: 'guess' })).status, 400);
      assert.equal((await call('specialist', 'POST', '/domains', claim)).status, 201);

      const csrPem = opensslCsr(files, 'api', { subject: `/CN=api/serialNumber=${object.hsaId}`, san: `DNS:${object.dnsNames[0]}` });
      const order = { functionObject: object.hsaId, profile: 'function-server', csr: csrPem };
      const unauthorised = await call('orderer', 'POST', '/function-certificates', order);
      assert.equal(unauthorised.status, 403);
      assert.match(unauthorised.body.detail, /not authorised to order/);
      assert.equal((await call('orderer', 'POST', `/function-objects/${object.hsaId}/orderers`, { orderer: tokens.get('orderer') })).status, 403);
      assert.equal((await call('issuer', 'POST', `/function-objects/${object.hsaId}/orderers`, { orderer: tokens.get('orderer') })).status, 201);
      assert.deepEqual((await call('orderer', 'GET', '/function-objects')).body.map((a: { functionObject: string }) => a.functionObject), [object.hsaId]);
      assert.equal((await call('orderer', 'GET', `/function-objects?q=${encodeURIComponent(object.dnsNames[0]!.toUpperCase())}`)).body[0].object.name, object.name);
      assert.deepEqual((await call('orderer', 'GET', '/function-objects?q=no-such-server')).body, []);

      const foreignId = await call('orderer', 'POST', '/function-certificates', { ...order, csr: opensslCsr(files, 'x', { subject: '/CN=x/serialNumber=SE5566000013-OTHER', san: `DNS:${object.dnsNames[0]}` }) });
      assert.equal(foreignId.status, 400);
      assert.match(foreignId.body.detail, /not this function object's HSA-id/);
      const issued = await call('orderer', 'POST', '/function-certificates', order);
      assert.equal(issued.status, 201, JSON.stringify(issued.body));
      const download = await call('orderer', 'GET', `/function-certificates/${issued.body.serial}/download?format=pkcs7`);
      assert.equal(download.status, 200);
      files.file('api.p7b', Buffer.from(download.body.content, 'base64'));
      const printed = openssl(['pkcs7', '-inform', 'DER', '-in', files.path('api.p7b'), '-print_certs', '-noout']);
      assert.equal(printed.output.match(/^subject=/gm)?.length, 3, printed.output);
      assert.equal((await call('issuer', 'POST', `/function-certificates/${issued.body.serial}/revoke`, { reason: 'keyCompromise' })).status, 403);
      const revoked = await call('orderer', 'POST', `/function-certificates/${issued.body.serial}/revoke`, { reason: 'cessationOfOperation' });
      assert.equal(revoked.body.revocationReason, 'cessationOfOperation');
      const listed = await call('orderer', 'GET', `/function-objects/${object.hsaId}/certificates`);
      assert.equal(listed.body[0].revocationReason, 'cessationOfOperation');
    });
  });
}
