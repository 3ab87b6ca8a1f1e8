import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { generateServiceProviderMetadata, type Profile } from '@node-saml/node-saml';
import * as client from 'openid-client';
import { curlGet } from '../../../test/support/curl.ts';
import { call } from '../../../test/support/http.ts';
import { openssl, scratch } from '../../../test/support/openssl.ts';
import { startTestSystem } from '../../../test/support/system.ts';
import { pkiFrom } from '../../pki/index.ts';
import { createMemoryStore } from '../../store/index.ts';
import { addClient, openSealer, SAML2_BEARER } from '../oidc/index.ts';
import { fetchTrusting, freePort } from '../oidc/test-support.ts';
import { bearerAssertionVerifier, recordIssuedAssertion } from './bearer.ts';
import { addServiceProvider } from './index.ts';
import { loadOrCreateIdpKeys } from './keys.ts';
import { testServiceProvider } from './test-support.ts';
import { NS, descendants, parseStrict } from './xml.ts';

const APP = 'https://app.example';
const OTHER = 'https://other.example';
const REDIRECT = 'https://app.example/callback';

describe('RFC 7522: an assertion we issued, traded at the OIDC token endpoint for an access token (node-saml as SP, openid-client as client)', () => {
  let system: Awaited<ReturnType<typeof startTestSystem>>;
  let base: string;
  let files: ReturnType<typeof scratch>;
  let card: { cert: string; key: string };
  let idpCert: string;
  let tied: client.Configuration;
  let untied: client.Configuration;
  const jar = new Map<string, string>();
  const keys = scratch();
  const made = openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=sp signing', '-days', '30', '-keyout', keys.path('key.pem'), '-out', keys.path('cert.pem')]);
  assert.ok(made.ok, made.output);
  const spKeys = { certificate: keys.read('cert.pem').toString(), key: keys.read('key.pem').toString() };
  keys.done();

  const spOf = (entityId: string) =>
    testServiceProvider(base, { entityId, acsUrl: `${entityId}/acs`, idpCert, privateKey: spKeys.key }, { logoutUrl: undefined });

  async function walk(url: string) {
    for (let hop = 0; hop < 20; hop++) {
      const target = new URL(url);
      if (target.hostname.startsWith('mtls-')) {
        url = (await curlGet(url, { cacert: files.file('root.pem', system.tls.ca), ...card, resolve: [target.hostname] })).location;
        continue;
      }
      if (target.origin !== base) return { url, body: '' };
      const cookie = [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
      const answer = await call(url, { headers: { accept: 'text/html', ...(cookie ? { cookie } : {}) }, ca: system.tls.ca });
      for (const line of [answer.headers['set-cookie'] ?? []].flat()) {
        const [name, ...value] = line.split(';')[0]!.split('=');
        jar.set(name!.trim(), value.join('='));
      }
      if (answer.status < 300 || answer.status >= 400) return { url, body: answer.body };
      url = new URL(answer.headers.location!, url).href;
    }
    throw new Error('too many redirects');
  }

  /** A SAML login at `entityId`; node-saml checks the Response and hands out the Assertion as the SP received it. */
  async function assertionFor(entityId: string): Promise<string> {
    const { body } = await walk(await spOf(entityId).getAuthorizeUrlAsync('', 'sp', {}));
    const fields = Object.fromEntries([...body.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)].map((m) => [m[1]!, m[2]!]));
    const { profile } = await spOf(entityId).validatePostResponseAsync(fields);
    return (profile as Profile).getAssertionXml!();
  }

  const trade = (config: client.Configuration, assertionXml: string) => client.genericGrantRequest(config, SAML2_BEARER, { assertion: Buffer.from(assertionXml).toString('base64url') });
  /** oidc-provider answers only the error code; the reason is logged (checked on the verifier itself below). */
  const refusedWith = async (promise: Promise<unknown>, error: string) => {
    const failure = await promise.then(
      () => assert.fail('the grant was not refused'),
      (e: { error?: string }) => e,
    );
    assert.equal(failure.error, error, JSON.stringify(failure));
  };

  before(async () => {
    const port = await freePort();
    base = `https://127.0.0.1:${port}`;
    system = await startTestSystem({ server: { host: '127.0.0.1', httpsPort: port, httpPort: 0, publicBaseUrl: base }, directory: { demo: { persons: 10 } }, oidc: { encryptionKey: Buffer.alloc(32, 9).toString('base64') }, saml: { keyBits: 2048 } });
    const pki = pkiFrom(new Map(system.parts.map((p) => [p.name, p])));
    files = scratch();
    const [person] = await system.db.query<{ hsaId: string; givenName: string; surname: string }>(
      `select s.hsa_id as "hsaId", p.given_name as "givenName", p.surname from directory_service_identity s join directory_person p on p.id = s.person_id where s.valid_to is null order by s.hsa_id limit 1`,
    );
    const issued = await pki.issueWithNewKey('person-auth-hsa-loa3', { commonName: `${person!.givenName} ${person!.surname}`, givenName: person!.givenName, surname: person!.surname, serialNumber: person!.hsaId });
    card = { cert: files.file('card.pem', issued.certificatePem), key: files.file('card.key', issued.privateKeyPem) };
    idpCert = descendants(parseStrict((await call(`${base}/saml/metadata`, { ca: system.tls.ca })).body, 1 << 20).documentElement!, NS.ds, 'X509Certificate')[0]!.textContent!;
    for (const entityId of [APP, OTHER]) {
      await addServiceProvider(system.db, { metadataXml: generateServiceProviderMetadata({ issuer: entityId, callbackUrl: `${entityId}/acs`, publicCerts: spKeys.certificate, privateKey: spKeys.key, wantAssertionsSigned: true }), metadataSource: 'test', displayName: entityId, methods: ['mtls'], attributes: ['employeeHsaId'] }, new Date());
    }
    const sealer = await openSealer(system.config);
    const fetch = fetchTrusting(system.tls.ca);
    const configure = async (samlEntityId?: string) => {
      const { client: registered, secret } = await addClient(system.db, sealer, { displayName: 'Appen', redirectUris: [REDIRECT], methods: ['mtls'], allowedClaims: ['name'], ...(samlEntityId ? { samlEntityId } : {}) });
      const config = await client.discovery(new URL(`${base}/oidc`), registered.clientId, undefined, client.ClientSecretBasic(secret!), { [client.customFetch]: fetch });
      config[client.customFetch] = fetch;
      return config;
    };
    tied = await configure(APP);
    untied = await configure();
  });
  after(async () => {
    await system?.stop();
    files?.done();
  });

  it('gives the tied client an access token whose subject is the person’s pairwise sub for that client, once per assertion', async () => {
    const assertion = await assertionFor(APP);
    const tokens = await trade(tied, assertion);
    assert.equal(tokens.token_type.toLowerCase(), 'bearer');
    assert.ok(tokens.access_token);
    const introspected = await client.tokenIntrospection(tied, tokens.access_token);
    assert.equal(introspected.active, true);
    // The same person logging in to the same client over OIDC gets the same sub.
    const verifier = client.randomPKCECodeVerifier();
    const done = await walk(client.buildAuthorizationUrl(tied, { redirect_uri: REDIRECT, scope: 'openid', code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256' }).href);
    const login = await client.authorizationCodeGrant(tied, new URL(done.url), { pkceCodeVerifier: verifier });
    assert.equal(introspected.sub, login.claims()!.sub);
    assert.equal((await client.fetchUserInfo(tied, tokens.access_token, login.claims()!.sub)).sub, login.claims()!.sub, 'userinfo accepts the token');

    await refusedWith(trade(tied, assertion), 'invalid_grant');
  });

  it('refuses an altered, unsigned or foreign-signed assertion, one issued to another SP, and a client not tied to an SP', async () => {
    const assertion = await assertionFor(APP);
    await refusedWith(trade(tied, assertion.replace(/(<saml:NameID[^>]*>)[^<]+/, '$1someone-else')), 'invalid_grant');
    await refusedWith(trade(tied, assertion.replace(/<ds:Signature[\s\S]*<\/ds:Signature>/, '')), 'invalid_grant');
    // Signed by someone else's key, with their certificate in KeyInfo: only our key counts.
    const foreign = openssl(['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', files.path('foreign.key')]);
    assert.ok(foreign.ok, foreign.output);
    const { SignedXml } = await import('xml-crypto');
    const signer = new SignedXml({ privateKey: files.read('foreign.key'), signatureAlgorithm: 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256', canonicalizationAlgorithm: 'http://www.w3.org/2001/10/xml-exc-c14n#' });
    signer.addReference({ xpath: '/*', transforms: ['http://www.w3.org/2000/09/xmldsig#enveloped-signature', 'http://www.w3.org/2001/10/xml-exc-c14n#'], digestAlgorithm: 'http://www.w3.org/2001/04/xmlenc#sha256' });
    signer.computeSignature(assertion.replace(/<ds:Signature[\s\S]*<\/ds:Signature>/, ''), { prefix: 'ds', location: { reference: "/*/*[local-name()='Issuer']", action: 'after' } });
    await refusedWith(trade(tied, signer.getSignedXml()), 'invalid_grant');
    await refusedWith(trade(tied, await assertionFor(OTHER)), 'invalid_grant');
    // oidc-provider: the grant type is not among this client's grant_types.
    await refusedWith(trade(untied, assertion), 'invalid_request');
    await refusedWith(client.genericGrantRequest(tied, SAML2_BEARER, { assertion: '<not base64url>' }), 'invalid_grant');
    // None of these used the genuine assertion up.
    assert.ok((await trade(tied, assertion)).access_token);
  });

  it('refuses an expired assertion (the verifier on the same keys, its clock past NotOnOrAfter)', async () => {
    const assertion = await assertionFor(APP);
    const id = /ID="([^"]+)"/.exec(assertion)![1]!;
    const idpKeys = await loadOrCreateIdpKeys(system.db, await openSealer(system.config), { entityId: `${base}/saml`, modulusLength: 2048, now: new Date() });
    const store = createMemoryStore();
    await recordIssuedAssertion(store, id, { accountId: 'someone', spEntityId: APP }, 3_600_000);
    const notOnOrAfter = Date.parse(/NotOnOrAfter="([^"]+)"/.exec(assertion)![1]!);
    const at = (time: number) => bearerAssertionVerifier({ idp: { entityId: `${base}/saml`, keys: idpKeys, signatureAlgorithm: 'rsa-sha256' }, store, now: () => new Date(time), clockSkewMs: 60_000 });
    assert.deepEqual(await at(notOnOrAfter + 61_000)(Buffer.from(assertion).toString('base64url'), APP), { ok: false, reason: 'the assertion has expired' });
    assert.deepEqual(await at(notOnOrAfter - 1000)(Buffer.from(assertion).toString('base64url'), APP), { ok: true, accountId: 'someone' });
  });
});
