import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { call } from './support/http.ts';
import { startTestSystem } from './support/system.ts';
import { createDirectoryPart } from '../src/directory/index.ts';
import { createOidcPart } from '../src/idp/oidc/index.ts';
import { freePort, holdersVerifier, testAuthnPart } from '../src/idp/oidc/test-support.ts';
import { createPkiPart } from '../src/pki/index.ts';
import { createPortalPart } from '../src/portal/index.ts';
import type { PartFactory } from '../src/server/index.ts';

/** The function-certificate and Mina sidor routes in the running portal part (migrations applied, pages and API wired, sign-in required). */
describe('portal part: function certificates and Mina sidor wired into the running system', () => {
  let system: Awaited<ReturnType<typeof startTestSystem>>;
  let base: string;

  before(async () => {
    const port = await freePort();
    base = `https://127.0.0.1:${port}`;
    const parts = new Map<string, PartFactory>([
      ['pki', createPkiPart],
      ['directory', createDirectoryPart],
      ['authn', testAuthnPart(holdersVerifier([]), () => undefined)],
      ['oidc', createOidcPart],
      ['portal', createPortalPart],
    ]);
    system = await startTestSystem({ server: { host: '127.0.0.1', httpsPort: port, httpPort: 0, publicBaseUrl: base }, directory: { demo: { persons: 20 } }, oidc: { encryptionKey: Buffer.alloc(32, 5).toString('base64') } }, parts);
  });
  after(async () => {
    await system?.stop();
  });

  it('lists the routes in the OpenAPI document and asks for sign-in everywhere', async () => {
    const ca = system.tls.ca;
    const document = JSON.parse((await call(`${base}/portal/api/openapi.json`, { ca })).body) as { paths: Record<string, unknown> };
    for (const path of ['/portal/api/domains', '/portal/api/function-certificates', '/portal/api/function-certificates/{serial}/renew', '/portal/api/mine/eids']) assert.ok(document.paths[path], path);
    assert.equal((await call(`${base}/portal/api/function-certificates`, { ca, method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })).status, 401);
    assert.equal((await call(`${base}/portal/api/mine/eids`, { ca, headers: { authorization: 'Bearer not-from-the-idp' } })).status, 401);
    for (const page of ['/portal/function-certificates', '/portal/mine']) {
      const answer = await call(`${base}${page}`, { ca });
      assert.equal(answer.status, 303, page);
      assert.equal(answer.headers.location, '/portal?expired=1');
    }
    const start = await call(`${base}/`, { ca });
    assert.match(start.body, /href="\/portal\/mine"/);
  });
});
