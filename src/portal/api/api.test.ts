import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import Fastify, { type FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { databaseTargets, ephemeralTargets } from '../../../test/support/stores.ts';
import { createAnswerVerifier, createOrderService } from '../../authn/index.ts';
import { opensslCsr, scratch } from '../../../test/support/openssl.ts';
import { loadConfig } from '../../config/index.ts';
import type { Region } from '../../directory/index.ts';
import { openPki, type Pki } from '../../pki/index.ts';
import type { Database } from '../../store/index.ts';
import { verifyAudit } from '../audit.ts';
import { SEVEN_STEPS } from '../cards/identity-check.ts';
import { batchSigner, CARD_SLOTS } from '../cards/production.ts';
import { appointRole } from '../role-store.ts';
import { employeesOf, seedTestRegion } from '../testing.ts';
import { runJob } from '../../jobs/index.ts';
import { staleRolesJob } from '../jobs/stale-roles.ts';
import { apiRoutes, openApiDocument } from './routes.ts';

const PNG = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==';

for (const target of databaseTargets()) {
  describe(`portal API (${target.name})`, () => {
    let db: Database;
    let app: FastifyInstance;
    let region: Region;
    let pki: Pki;
    let orgA: string;
    let orgB: string;
    const clock = new Date();
    const files = scratch();
    // Bearer token → HSA-id: the credentials the IdP would vouch for (the IdP's own check is tested with the whole system).
    const tokens = new Map<string, string>();
    const as = (who: string) => ({ authorization: `Bearer ${who}` });
    const call = async (who: string | null, method: 'GET' | 'POST' | 'DELETE', url: string, body?: unknown) => {
      const answer = await app.inject({ method, url: `/portal/api${url}`, headers: who ? as(who) : {}, ...(body !== undefined ? { payload: body as object } : {}) });
      return { status: answer.statusCode, body: answer.body ? (JSON.parse(answer.body) as any) : null };
    };

    before(async () => {
      db = await target.open();
      region = await seedTestRegion(db, clock);
      [orgA, orgB] = region.organisations.map((o) => o.hsaId) as [string, string];
      const config = loadConfig({ overrides: { dataDir: 'memory://' } });
      pki = await openPki({ config, db, log: pino({ level: 'silent' }), now: () => clock });
      const a = employeesOf(region, orgA);
      const b = employeesOf(region, orgB);
      const operator = { operator: 'test' };
      await appointRole(db, operator, { holder: a[0]!.hsaId, role: 'responsible-issuer', organisation: orgA, unit: null, trainedOn: null }, clock);
      await appointRole(db, operator, { holder: a[1]!.hsaId, role: 'id-administrator', organisation: orgA, unit: null, trainedOn: clock }, clock);
      await appointRole(db, operator, { holder: a[2]!.hsaId, role: 'id-administrator', organisation: orgA, unit: null, trainedOn: clock }, clock);
      await appointRole(db, operator, { holder: b[0]!.hsaId, role: 'id-administrator', organisation: orgB, unit: null, trainedOn: clock }, clock);
      tokens.set('issuer', a[0]!.hsaId).set('admin', a[1]!.hsaId).set('admin2', a[2]!.hsaId).set('other', b[0]!.hsaId);
      const signer = await pki.issueWithNewKey('function-client', { commonName: 'Tillit eID portal batch signer', serialNumber: 'SE2321000008-EIDPORTAL' });
      app = Fastify({ logger: false });
      await app.register(
        apiRoutes({
          cards: {
            db,
            pki,
            now: () => clock,
            config: config.portal,
            orders: createOrderService({
              store: await ephemeralTargets()[0]!.open(),
              verifyAnswer: createAnswerVerifier({ trust: { anchors: [pki.caCertificate('root')!.certificate.toString('pem')], policyLoa: pki.policyLoa, revocationStatus: (c) => pki.revocationStatusOf(c) }, resolvePerson: async () => undefined }),
              now: () => Date.now(),
            }),
          },
          signer: async () => batchSigner(signer.privateKeyPem, signer.certificatePem),
          authenticate: async (request) => tokens.get(/^Bearer (.+)$/.exec(request.headers.authorization ?? '')?.[1] ?? '') ?? null,
        }),
      );
    });
    after(async () => {
      await app.close();
      files.done();
      await db.close();
    });

    it('publishes an OpenAPI 3.1 document generated from the input schemas', async () => {
      const answer = await app.inject({ url: '/portal/api/openapi.json' });
      assert.equal(answer.statusCode, 200);
      const doc = JSON.parse(answer.body) as any;
      assert.equal(doc.openapi, '3.1.0');
      assert.deepEqual(doc, JSON.parse(JSON.stringify(openApiDocument())));
      const order = doc.paths['/portal/api/orders'].post;
      assert.deepEqual(order.requestBody.content['application/json'].schema.properties.kind.enum, ['ordinary', 'reserve', 'test']);
      assert.deepEqual(doc.paths['/portal/api/cards/{id}/hand-out'].post.requestBody.content['application/json'].schema.properties.check.properties.steps.required, [...SEVEN_STEPS]);
      assert.deepEqual(doc.paths['/portal/api/cards/{id}/revocations'].post.parameters.map((p: { name: string; in: string }) => `${p.in}:${p.name}`), ['path:id']);
      assert.equal(doc.paths['/portal/api/persons'].get.parameters[0].name, 'q');
      assert.deepEqual(order.security, [{ bearer: [] }]);
    });

    it('refuses without credentials, with a forged token, and with bad input naming the field', async () => {
      assert.equal((await call(null, 'GET', '/me')).status, 401);
      assert.equal((await call('forged', 'GET', '/me')).status, 401);
      const bad = await call('admin', 'POST', '/orders', { kind: 'gold', loa: 3, holder: 'x' });
      assert.equal(bad.status, 400);
      assert.match(bad.body.detail, /body: kind: .*; holder: an HSA-id/);
      const unknownField = await call('admin', 'POST', '/orders', { kind: 'test', loa: null, holder: tokens.get('admin'), admin: true });
      assert.equal(unknownField.status, 400);
      assert.match(unknownField.body.detail, /Unrecognized key: "admin"/);
    });

    it('walks a card from order to revocation, each step checked against the caller’s roles', async () => {
      const holder = employeesOf(region, orgA).slice(3).find((e) => Number(e.personnummer.slice(0, 4)) < 2000)!;
      // Another organisation's administrator cannot order here, nor see the person.
      assert.equal((await call('other', 'POST', '/orders', { kind: 'ordinary', loa: 3, holder: holder.hsaId, photo: PNG })).status, 403);
      const photoless = await call('admin', 'POST', '/orders', { kind: 'ordinary', loa: 3, holder: holder.hsaId, photo: Buffer.from('GIF89a not a photo').toString('base64') });
      assert.equal(photoless.status, 400);
      assert.match(photoless.body.detail, /not a JPEG or PNG/);
      const ordered = await call('admin', 'POST', '/orders', { kind: 'ordinary', loa: 3, holder: holder.hsaId, photo: PNG });
      assert.equal(ordered.status, 201, JSON.stringify(ordered.body));
      const cardId = ordered.body.card.id as number;
      assert.equal((await call('admin2', 'POST', '/orders', { kind: 'ordinary', loa: 3, holder: holder.hsaId, photo: PNG })).status, 409);

      assert.equal((await call('admin', 'POST', '/production/batches', { organisation: orgA })).status, 403);
      const batch = await call('issuer', 'POST', '/production/batches', { organisation: orgA });
      assert.equal(batch.status, 201, JSON.stringify(batch.body));
      assert.equal(batch.body.photos[0].content, PNG);
      const [batchedCard] = batch.body.jsonl.trim().split('\n').slice(1).map((line: string) => JSON.parse(line));
      assert.equal(Buffer.from(batchedCard.adminKey, 'base64').length, 32, "the card's admin key goes to the manufacturer in the signed batch");
      const csrs = Object.fromEntries(CARD_SLOTS.ordinary.map((slot) => [slot, opensslCsr(files, `api-${slot}`, { subject: `/CN=card/serialNumber=${slot.endsWith('pnr') ? holder.personnummer : holder.hsaId}` })]));
      const content = [JSON.stringify({ format: 'tillit-card-return/1', batch: batch.body.batchId }), JSON.stringify({ order: cardId, cardNumber: 'B0000001', csrs })].join('\n');
      const returned = await call('issuer', 'POST', '/production/returns', { content });
      assert.equal(returned.status, 200, JSON.stringify(returned.body));
      assert.equal((await call('issuer', 'POST', '/production/returns', { content })).status, 409, 'a reused return file is refused');

      const steps = Object.fromEntries(SEVEN_STEPS.map((s) => [s, true]));
      const handOut = { cardNumber: 'B0000001', personnummer: holder.personnummer, check: { documentType: 'national-id-card', documentNumber: 'NID12345', documentExpiresOn: '2030-05-05', steps } };
      assert.equal((await call('other', 'POST', `/cards/${cardId}/hand-out`, handOut)).status, 403, "another organisation's card id in the URL");
      assert.equal((await call('admin', 'POST', `/cards/${cardId}/hand-out`, { ...handOut, personnummer: employeesOf(region, orgA)[5]!.personnummer })).status, 403);
      const active = await call('admin', 'POST', `/cards/${cardId}/hand-out`, handOut);
      assert.equal(active.status, 200, JSON.stringify(active.body));
      assert.equal(active.body.status, 'active');

      // Unlock: the holder's mobile eID login is started for an administrator of the card's organisation only, and an unapproved login unlocks nothing.
      assert.equal((await call('other', 'POST', `/cards/${cardId}/unlock/login`)).status, 403);
      const unlockLogin = await call('admin', 'POST', `/cards/${cardId}/unlock/login`);
      assert.equal(unlockLogin.status, 201, JSON.stringify(unlockLogin.body));
      assert.ok(unlockLogin.body.autoStartToken && unlockLogin.body.qrStartToken);
      const challenge = Buffer.alloc(32, 7).toString('base64');
      const early = await call('admin', 'POST', `/cards/${cardId}/unlock`, { orderRef: unlockLogin.body.orderRef, challenge });
      assert.equal(early.status, 403);
      assert.match(early.body.detail, /not yet approved/);
      assert.equal((await call('other', 'POST', `/cards/${cardId}/unlock`, { orderRef: unlockLogin.body.orderRef, challenge })).status, 403);
      assert.equal((await call('admin', 'POST', `/cards/${cardId}/unlock`, { orderRef: unlockLogin.body.orderRef })).status, 400);

      const receivedAt = clock.toISOString();
      const revoke = { reportedBy: 'the holder', channel: 'in-person', receivedAt, cause: 'employment-ended' };
      assert.equal((await call('other', 'POST', `/cards/${cardId}/revocations`, revoke)).status, 403);
      assert.equal((await call('admin', 'POST', `/cards/999999/revocations`, revoke)).status, 404);
      const revoked = await call('admin2', 'POST', `/cards/${cardId}/revocations`, revoke);
      assert.equal(revoked.status, 201, JSON.stringify(revoked.body));

      const view = await call('admin', 'GET', `/persons/${holder.personnummer}`);
      assert.equal(view.status, 200);
      assert.equal(view.body.cards[0].status, 'revoked');
      assert.deepEqual(new Set(view.body.cards[0].certificates.map((c: { status: string; reason: string }) => `${c.status}:${c.reason}`)), new Set(['revoked:affiliationChanged']));
      assert.equal(view.body.cards[0].certificates[0].invalidityDate, new Date(Math.floor(Date.parse(receivedAt) / 1000) * 1000).toISOString());
      assert.match(view.body.thirdPartyNote.sv, /spärras hos den utfärdaren/);
      assert.deepEqual(view.body.mobileEids, []);
      assert.equal((await call('other', 'GET', `/persons/${holder.personnummer}`)).status, 404, 'a person outside one’s organisations is not even confirmed to exist');
      const unknown = await call('admin', 'GET', `/unknown-holder-certificates?organisation=${orgA}`);
      assert.equal(unknown.status, 200);
      assert.ok(Array.isArray(unknown.body));
      assert.equal((await call('other', 'GET', `/unknown-holder-certificates?organisation=${orgA}`)).status, 403);
      const found = await call('admin', 'GET', `/persons?q=${holder.hsaId}`);
      assert.deepEqual(found.body.map((p: { personnummer: string }) => p.personnummer), [holder.personnummer]);
      assert.deepEqual((await call('other', 'GET', `/persons?q=${holder.hsaId}`)).body, []);
      assert.equal((await verifyAudit(db)).ok, true);
    });

    it('lets the responsible issuer appoint and remove, and no one else', async () => {
      const newcomer = employeesOf(region, orgA)[6]!;
      const body = { holder: newcomer.hsaId, role: 'id-administrator', organisation: orgA, trainedOn: '2026-01-15' };
      assert.equal((await call('admin', 'POST', '/roles', body)).status, 403);
      assert.equal((await call('issuer', 'POST', '/roles', { ...body, organisation: orgB })).status, 403);
      const appointed = await call('issuer', 'POST', '/roles', body);
      assert.equal(appointed.status, 201, JSON.stringify(appointed.body));
      assert.ok((await call('issuer', 'GET', `/roles?organisation=${orgA}`)).body.some((a: { id: number }) => a.id === appointed.body.id));
      assert.equal((await call('other', 'GET', `/roles?organisation=${orgA}`)).status, 403);
      // The directory no longer gives the newcomer a commission: the stale-roles job suggests the removal to the issuer.
      await db.query('update directory_commission set valid_to = $2 where service_identity_hsa_id = $1', [newcomer.hsaId, clock]);
      assert.equal((await runJob({ db, log: pino({ level: 'silent' }), now: () => clock, node: 'test', leaseMs: 60_000 }, staleRolesJob, { trigger: 'manual', dryRun: false })).status, 'succeeded');
      const suggested = await call('issuer', 'GET', `/role-removal-suggestions?organisation=${orgA}`);
      assert.deepEqual(suggested.body.map((s: { assignment: { id: number }; reason: string }) => [s.assignment.id, s.reason]), [[appointed.body.id, 'no current commission']]);
      assert.equal((await call('other', 'GET', `/role-removal-suggestions?organisation=${orgA}`)).status, 403);
      assert.equal((await call('issuer', 'GET', '/role-removal-suggestions?organisation=nonsense')).status, 400);
      assert.equal((await call('admin', 'DELETE', `/roles/${appointed.body.id}`)).status, 403);
      assert.equal((await call('issuer', 'DELETE', `/roles/${appointed.body.id}`)).status, 200);
    });
  });
}
