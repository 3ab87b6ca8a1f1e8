import assert from 'node:assert/strict';
import { request as httpsRequest } from 'node:https';
import { after, before, describe, it } from 'node:test';
import * as client from 'openid-client';
import { curlGet } from '../../../test/support/curl.ts';
import { call } from '../../../test/support/http.ts';
import { scratch } from '../../../test/support/openssl.ts';
import { startTestSystem } from '../../../test/support/system.ts';
import { pkiFrom, type Pki } from '../../pki/index.ts';
import { addClient, ClientError, openSealer } from './index.ts';
import { freePort } from './test-support.ts';

const REDIRECT = 'https://rp.example/callback';
const TLS_CLIENT = 'urn:oasis:names:tc:SAML:2.0:ac:classes:TLSClient';

/** `fetch` for openid-client that trusts one CA and presents a client certificate (or none). */
function fetchWith(ca: string, certificate?: { cert: string; key: string }): client.CustomFetch {
  return (url, init) =>
    new Promise((resolve, reject) => {
      const headers: Record<string, string> = {};
      new Headers(init.headers as HeadersInit).forEach((value, name) => (headers[name] = value));
      const req = httpsRequest(url, { method: init.method ?? 'GET', headers, ca, agent: false, ...(certificate ?? {}) }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const responseHeaders = new Headers();
          for (const [name, value] of Object.entries(res.headers)) if (value !== undefined) responseHeaders.set(name, Array.isArray(value) ? value.join(', ') : value);
          resolve(new Response(res.statusCode === 204 ? null : Buffer.concat(chunks), { status: res.statusCode ?? 500, headers: responseHeaders }));
        });
      });
      req.on('error', reject);
      req.end(init.body === undefined || init.body === null ? undefined : String(init.body));
    });
}

describe('OpenID Connect: card login without a browser, and tls_client_auth (RFC 8705) with a function client certificate, through openid-client', () => {
  let system: Awaited<ReturnType<typeof startTestSystem>>;
  let pki: Pki;
  let base: string;
  let files: ReturnType<typeof scratch>;
  let personCard: { cert: string; key: string; certPem: string; keyPem: string };

  before(async () => {
    const port = await freePort();
    base = `https://127.0.0.1:${port}`;
    system = await startTestSystem({ server: { host: '127.0.0.1', httpsPort: port, httpPort: 0, publicBaseUrl: base }, directory: { demo: { persons: 10 } }, oidc: { encryptionKey: Buffer.alloc(32, 3).toString('base64') } });
    pki = pkiFrom(new Map(system.parts.map((p) => [p.name, p])));
    files = scratch();
    const [person] = await system.db.query<{ hsaId: string; givenName: string; surname: string }>(
      `select s.hsa_id as "hsaId", p.given_name as "givenName", p.surname from directory_service_identity s join directory_person p on p.id = s.person_id where s.valid_to is null order by s.hsa_id limit 1`,
    );
    const issued = await pki.issueWithNewKey('person-auth-hsa-loa3', { commonName: `${person!.givenName} ${person!.surname}`, givenName: person!.givenName, surname: person!.surname, serialNumber: person!.hsaId });
    personCard = { cert: files.file('card.pem', issued.certificatePem), key: files.file('card.key', issued.privateKeyPem), certPem: issued.certificatePem, keyPem: issued.privateKeyPem };
  });
  after(async () => {
    await system?.stop();
    files?.done();
  });

  const functionCertificate = async (commonName: string) => {
    const issued = await pki.issueWithNewKey('function-client', { commonName, serialNumber: 'SE2321000016-F001', organization: 'Region Demo' });
    return { serial: issued.serial, subject: issued.certificate.subject, cert: issued.certificatePem, key: issued.privateKeyPem };
  };

  /** A person at a browser without JavaScript: the IdP's pages on the public host, the card presented by curl on the rolling host. */
  async function cardLogin(authorizeUrl: string): Promise<string> {
    const jar = new Map<string, string>();
    let url = authorizeUrl;
    for (let hop = 0; hop < 20; hop++) {
      const target = new URL(url);
      if (target.hostname.startsWith('mtls-')) {
        url = (await curlGet(url, { cacert: files.file('root.pem', system.tls.ca), cert: personCard.cert, key: personCard.key, resolve: [target.hostname] })).location;
        continue;
      }
      if (target.origin !== base) return url;
      const cookie = [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
      const answer = await call(url, { headers: { accept: 'text/html', ...(cookie ? { cookie } : {}) }, ca: system.tls.ca });
      for (const line of [answer.headers['set-cookie'] ?? []].flat()) {
        const [name, ...value] = line.split(';')[0]!.split('=');
        jar.set(name!.trim(), value.join('='));
      }
      assert.ok(answer.status >= 300 && answer.status < 400, `the login stopped at ${url}: ${answer.status} ${answer.body.slice(0, 300)}`);
      url = new URL(answer.headers.location!, url).href;
    }
    throw new Error('too many redirects');
  }

  async function relyingParty(clientId: string, certificate?: { cert: string; key: string }) {
    const fetch = fetchWith(system.tls.ca, certificate);
    const config = await client.discovery(new URL(`${base}/oidc`), clientId, { use_mtls_endpoint_aliases: true }, client.TlsClientAuth(), { [client.customFetch]: fetch });
    config[client.customFetch] = fetch;
    return config;
  }

  it('advertises tls_client_auth and the mTLS endpoint aliases on their own port', async () => {
    const discovery = JSON.parse((await call(`${base}/oidc/.well-known/openid-configuration`, { ca: system.tls.ca })).body) as Record<string, unknown> & { mtls_endpoint_aliases: Record<string, string> };
    assert.ok((discovery['token_endpoint_auth_methods_supported'] as string[]).includes('tls_client_auth'));
    const alias = new URL(discovery.mtls_endpoint_aliases['token_endpoint']!);
    assert.equal(alias.pathname, '/oidc/token');
    assert.notEqual(alias.port, new URL(base).port, 'the pages’ server never asks browsers for a certificate');
    assert.deepEqual(Object.keys(discovery.mtls_endpoint_aliases).sort(), ['introspection_endpoint', 'revocation_endpoint', 'token_endpoint', 'userinfo_endpoint']);
  });

  it('refuses to register tls_client_auth without a subject DN, or with one that is not a DN', async () => {
    const sealer = await openSealer(system.config);
    await assert.rejects(addClient(system.db, sealer, { displayName: 'X', redirectUris: [REDIRECT], tokenEndpointAuthMethod: 'tls_client_auth' }), ClientError);
    await assert.rejects(addClient(system.db, sealer, { displayName: 'X', redirectUris: [REDIRECT], tokenEndpointAuthMethod: 'tls_client_auth', tlsClientAuthSubjectDn: 'not a dn' }), /not a distinguished name/);
  });

  it('logs a person in with their card (no browser) and lets the e-service redeem the code only with its own valid function certificate', async () => {
    const backend = await functionCertificate('Journal backend');
    const impostor = await functionCertificate('Other backend');
    const revoked = await functionCertificate('Journal backend');
    await pki.revoke({ serial: revoked.serial, reason: 'keyCompromise', actor: 'test' });
    const sealer = await openSealer(system.config);
    const { client: registered, secret } = await addClient(system.db, sealer, { displayName: 'Journalen', redirectUris: [REDIRECT], methods: ['mtls'], allowedClaims: ['name'], tokenEndpointAuthMethod: 'tls_client_auth', tlsClientAuthSubjectDn: backend.subject });
    assert.equal(secret, null, 'no secret for a certificate-authenticated client');
    const config = await relyingParty(registered.clientId, backend);
    assert.match(config.serverMetadata().mtls_endpoint_aliases!.token_endpoint!, /^https:\/\/127\.0\.0\.1:\d+\/oidc\/token$/);
    const verifier = client.randomPKCECodeVerifier();
    const authorize = client.buildAuthorizationUrl(config, { redirect_uri: REDIRECT, scope: 'openid profile', code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256', state: 'st' });
    const callback = new URL(await cardLogin(authorize.href));
    assert.ok(callback.searchParams.get('code'), callback.href);
    const refused = (e: Error & { error?: string }) => e.error === 'invalid_client';
    for (const [why, certificate] of [
      ['another function certificate', impostor],
      ['a revoked certificate with the registered subject', revoked],
      ['a person’s card certificate', { cert: personCard.certPem, key: personCard.keyPem }],
      ['no certificate', undefined],
    ] as const) {
      await assert.rejects(client.authorizationCodeGrant(await relyingParty(registered.clientId, certificate), callback, { pkceCodeVerifier: verifier, expectedState: 'st' }), refused, why);
    }
    const tokens = await client.authorizationCodeGrant(config, callback, { pkceCodeVerifier: verifier, expectedState: 'st' });
    const claims = tokens.claims()!;
    assert.deepEqual(claims['amr'], [TLS_CLIENT]);
    assert.ok(claims['name']);
    const userinfo = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
    assert.equal(userinfo['name'], claims['name'], 'userinfo through its mTLS alias');
  });
});
