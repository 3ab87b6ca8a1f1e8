import assert from 'node:assert/strict';
import { createPublicKey, verify as cryptoVerify, type JsonWebKey } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { parse as parseQuery } from 'node:querystring';
import { after, before, describe, it } from 'node:test';
import { generateServiceProviderMetadata } from '@node-saml/node-saml';
import * as client from 'openid-client';
import { curlGet } from '../../../test/support/curl.ts';
import { call } from '../../../test/support/http.ts';
import { openssl, scratch } from '../../../test/support/openssl.ts';
import { startTestSystem } from '../../../test/support/system.ts';
import { pkiFrom } from '../../pki/index.ts';
import { addClient, openSealer } from '../oidc/index.ts';
import { fetchTrusting, freePort } from '../oidc/test-support.ts';
import { addServiceProvider } from './index.ts';
import { testServiceProvider } from './test-support.ts';
import { NS, descendants, parseStrict } from './xml.ts';

const REDIRECT = 'https://rp.example/callback';
const BYE = 'https://rp.example/bye';
const PARTIAL = 'urn:oasis:names:tc:SAML:2.0:status:PartialLogout';
const unescape = (value: string) => value.replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
const formOf = (body: string) => ({
  action: unescape(/<form id="saml-post" method="post" action="([^"]+)"/.exec(body)?.[1] ?? ''),
  fields: Object.fromEntries([...body.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)].map((m) => [m[1]!, unescape(m[2]!)])) as Record<string, string>,
});

/** Single logout across one SSO session: two or three SAML SPs (node-saml) and one OIDC client (openid-client) with a back-channel URI. */
describe('SAML single logout tells every participant: OIDC over the back channel, SAML SPs over the front channel', () => {
  let system: Awaited<ReturnType<typeof startTestSystem>>;
  let base: string;
  let files: ReturnType<typeof scratch>;
  let card: { cert: string; key: string };
  let idpCert: string;
  let receiver: Server;
  let receiverUrl: string;
  const logoutTokens: string[] = [];
  const keys = scratch();
  const made = openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=sp signing', '-days', '30', '-keyout', keys.path('key.pem'), '-out', keys.path('cert.pem')]);
  assert.ok(made.ok, made.output);
  const spKeys = { certificate: keys.read('cert.pem').toString(), key: keys.read('key.pem').toString() };
  keys.done();

  /** SP metadata from node-saml; `slo` picks the binding of its SingleLogoutService, or none. */
  const metadataOf = (entityId: string, slo: 'post' | 'redirect' | 'none') => {
    const xml = generateServiceProviderMetadata({ issuer: entityId, callbackUrl: `${entityId}/acs`, ...(slo === 'none' ? {} : { logoutCallbackUrl: `${entityId}/slo` }), publicCerts: spKeys.certificate, privateKey: spKeys.key, wantAssertionsSigned: true });
    return slo === 'redirect' ? xml.replace(/(<SingleLogoutService[^>]*Binding=")urn:oasis:names:tc:SAML:2\.0:bindings:HTTP-POST/, '$1urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect') : xml;
  };
  const spOf = (entityId: string) =>
    testServiceProvider(base, { entityId, acsUrl: `${entityId}/acs`, idpCert, privateKey: spKeys.key });

  before(async () => {
    const port = await freePort();
    base = `https://127.0.0.1:${port}`;
    system = await startTestSystem({ server: { host: '127.0.0.1', httpsPort: port, httpPort: 0, publicBaseUrl: base }, directory: { demo: { persons: 10 } }, oidc: { encryptionKey: Buffer.alloc(32, 8).toString('base64'), allowPrivateNetworkCalls: true }, saml: { keyBits: 2048 } });
    const pki = pkiFrom(new Map(system.parts.map((p) => [p.name, p])));
    files = scratch();
    const [person] = await system.db.query<{ hsaId: string; givenName: string; surname: string }>(
      `select s.hsa_id as "hsaId", p.given_name as "givenName", p.surname from directory_service_identity s join directory_person p on p.id = s.person_id where s.valid_to is null order by s.hsa_id limit 1`,
    );
    const issued = await pki.issueWithNewKey('person-auth-hsa-loa3', { commonName: `${person!.givenName} ${person!.surname}`, givenName: person!.givenName, surname: person!.surname, serialNumber: person!.hsaId });
    card = { cert: files.file('card.pem', issued.certificatePem), key: files.file('card.key', issued.privateKeyPem) };
    const metadata = await call(`${base}/saml/metadata`, { ca: system.tls.ca });
    idpCert = descendants(parseStrict(metadata.body, 1 << 20).documentElement!, NS.ds, 'X509Certificate')[0]!.textContent!;
    for (const [entityId, slo] of [['https://a.example', 'post'], ['https://b.example', 'redirect'], ['https://c.example', 'none']] as const) {
      await addServiceProvider(system.db, { metadataXml: metadataOf(entityId, slo), metadataSource: 'test', displayName: entityId, methods: ['mtls'], attributes: ['employeeHsaId'] }, new Date());
    }
    const receiverPort = await freePort();
    receiver = createServer((request, response) => {
      let body = '';
      request.on('data', (chunk: Buffer) => (body += chunk.toString()));
      request.on('end', () => {
        logoutTokens.push(String(parseQuery(body)['logout_token']));
        response.writeHead(200).end();
      });
    });
    await new Promise<void>((resolve) => receiver.listen(receiverPort, '127.0.0.1', resolve));
    receiverUrl = `http://127.0.0.1:${receiverPort}/backchannel`;
  });
  after(async () => {
    await system?.stop();
    await new Promise((resolve) => receiver?.close(resolve));
    files?.done();
  });

  /** One request with the jar's cookies; the answer's cookies go into the jar. */
  async function send(url: string, jar: Map<string, string>, options: { method?: string; body?: string } = {}) {
    const cookie = [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
    const headers: Record<string, string> = { accept: 'text/html', ...(cookie ? { cookie } : {}), ...(options.body ? { 'content-type': 'application/x-www-form-urlencoded' } : {}) };
    const answer = await call(url, { ...options, headers, ca: system.tls.ca });
    for (const line of [answer.headers['set-cookie'] ?? []].flat()) {
      const [name, ...value] = line.split(';')[0]!.split('=');
      if (/max-age=0|expires=thu, 01 jan 1970/i.test(line)) jar.delete(name!.trim());
      else jar.set(name!.trim(), value.join('='));
    }
    return answer;
  }

  /** A browser without JavaScript: the IdP's pages, the card on the rolling hosts; stops at a page or at a URL off the IdP. */
  async function walk(url: string, jar: Map<string, string>) {
    for (let hop = 0; hop < 20; hop++) {
      const target = new URL(url);
      if (target.hostname.startsWith('mtls-')) {
        url = (await curlGet(url, { cacert: files.file('root.pem', system.tls.ca), ...card, resolve: [target.hostname] })).location;
        continue;
      }
      if (target.origin !== base) return { url, answer: undefined };
      const answer = await send(url, jar);
      if (answer.status < 300 || answer.status >= 400) return { url, answer };
      url = new URL(answer.headers.location!, url).href;
    }
    throw new Error('too many redirects');
  }

  async function samlLogin(entityId: string, jar: Map<string, string>) {
    const landed = await walk(await spOf(entityId).getAuthorizeUrlAsync('', 'sp', {}), jar);
    const { action, fields } = formOf(landed.answer!.body);
    assert.equal(action, `${entityId}/acs`);
    const { profile } = await spOf(entityId).validatePostResponseAsync(fields);
    assert.ok(profile);
    return profile;
  }

  async function oidcLogin(jar: Map<string, string>, backchannelLogoutUri?: string) {
    const { client: registered, secret } = await addClient(system.db, await openSealer(system.config), { displayName: 'Journalen', redirectUris: [REDIRECT], postLogoutRedirectUris: [BYE], allowedClaims: ['name'], methods: ['mtls'], ...(backchannelLogoutUri ? { backchannelLogoutUri } : {}) });
    const fetch = fetchTrusting(system.tls.ca);
    const config = await client.discovery(new URL(`${base}/oidc`), registered.clientId, undefined, client.ClientSecretBasic(secret!), { [client.customFetch]: fetch });
    config[client.customFetch] = fetch;
    const verifier = client.randomPKCECodeVerifier();
    const done = await walk(client.buildAuthorizationUrl(config, { redirect_uri: REDIRECT, scope: 'openid', code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256' }).href, jar);
    const tokens = await client.authorizationCodeGrant(config, new URL(done.url), { pkceCodeVerifier: verifier });
    return { claims: tokens.claims()!, idToken: tokens.id_token!, config };
  }

  /** RP-initiated logout: openid-client's end-session URL, then the person confirms "log out of everything" (or not). */
  async function oidcLogout(jar: Map<string, string>, rp: Awaited<ReturnType<typeof oidcLogin>>, everything = true) {
    const confirm = await send(client.buildEndSessionUrl(rp.config, { id_token_hint: rp.idToken, post_logout_redirect_uri: BYE, state: 'st' }).href, jar);
    assert.equal(confirm.status, 200, confirm.body);
    const action = unescape(/<form[^>]*action="([^"]+)"/.exec(confirm.body)?.[1] ?? '');
    const xsrf = /name="xsrf" value="([^"]+)"/.exec(confirm.body)?.[1];
    assert.ok(action && xsrf, confirm.body);
    const confirmed = await send(new URL(action, base).href, jar, { method: 'POST', body: `xsrf=${xsrf}${everything ? '&logout=yes' : ''}` });
    assert.equal(confirmed.status, 303);
    return walk(new URL(confirmed.headers.location!, base).href, jar);
  }

  /** What an SP sees of our LogoutRequest over HTTP-POST: node-saml checks the enveloped signature (required here). */
  async function spAnswersPost(entityId: string, landed: { url: string; answer: Awaited<ReturnType<typeof call>> | undefined }) {
    const { action, fields } = formOf(landed.answer!.body);
    assert.equal(action, `${entityId}/slo`, 'the LogoutRequest goes to the SP’s SingleLogoutService from its metadata');
    assert.match(Buffer.from(fields['SAMLRequest']!, 'base64').toString(), /<ds:Signature/);
    const { profile, loggedOut } = await spOf(entityId).validatePostRequestAsync(fields);
    assert.equal(loggedOut, true);
    assert.ok(profile?.nameID, 'names the NameID the SP was given');
    return { profile: profile!, url: await spOf(entityId).getLogoutResponseUrlAsync(profile!, fields['RelayState']!, {}, true) };
  }

  /** The SP at the end of the front channel: node-saml checks our LogoutRequest (signature required here) and answers over Redirect. */
  async function spAnswers(entityId: string, url: string, success: boolean) {
    const target = new URL(url);
    assert.equal(`${target.origin}${target.pathname}`, `${entityId}/slo`, 'the LogoutRequest goes to the SP’s SingleLogoutService from its metadata');
    assert.ok(target.searchParams.get('Signature') && target.searchParams.get('SigAlg'), 'signed with the Redirect binding');
    const query = target.search.slice(1);
    const { profile, loggedOut } = await spOf(entityId).validateRedirectAsync(parseQuery(query) as Record<string, string>, query);
    assert.equal(loggedOut, true);
    assert.ok(profile?.nameID, 'names the NameID the SP was given');
    return spOf(entityId).getLogoutResponseUrlAsync(profile, target.searchParams.get('RelayState')!, {}, success);
  }

  it('A logs out: the OIDC client gets a signed logout token, B a signed LogoutRequest, and A a LogoutResponse without PartialLogout', async () => {
    const jar = new Map<string, string>();
    const { claims: idToken } = await oidcLogin(jar, receiverUrl);
    const a = await samlLogin('https://a.example', jar);
    const b = await samlLogin('https://b.example', jar);

    const toB = await walk(await spOf('https://a.example').getLogoutUrlAsync(a, 'bye', {}), jar);
    assert.equal(logoutTokens.length, 1, 'the OIDC client was told over the back channel');
    const [header, payload, signature] = logoutTokens[0]!.split('.');
    const claims = JSON.parse(Buffer.from(payload!, 'base64url').toString()) as Record<string, unknown>;
    assert.equal(claims['sub'], idToken.sub);
    assert.equal(claims['sid'], idToken['sid']);
    assert.equal(claims['iss'], `${base}/oidc`);
    assert.ok((claims['events'] as Record<string, unknown>)['http://schemas.openid.net/event/backchannel-logout']);
    const { kid } = JSON.parse(Buffer.from(header!, 'base64url').toString()) as { kid: string };
    const jwks = JSON.parse((await call(`${base}/oidc/jwks`, { ca: system.tls.ca })).body) as { keys: (JsonWebKey & { kid: string })[] };
    const jwk = jwks.keys.find((k) => k.kid === kid)!;
    assert.ok(cryptoVerify('sha256', Buffer.from(`${header}.${payload}`), createPublicKey({ key: jwk, format: 'jwk' }), Buffer.from(signature!, 'base64url')), 'signed with a published key');

    const back = await walk(await spAnswers('https://b.example', toB.url, true), jar);
    assert.ok(b.nameID);
    const { action, fields } = formOf(back.answer!.body);
    assert.equal(action, 'https://a.example/slo');
    assert.equal(fields['RelayState'], 'bye');
    const xml = Buffer.from(fields['SAMLResponse']!, 'base64').toString();
    assert.match(xml, /urn:oasis:names:tc:SAML:2\.0:status:Success/);
    assert.doesNotMatch(xml, /PartialLogout/);
    const checked = await spOf('https://a.example').validatePostResponseAsync(fields);
    assert.equal(checked.loggedOut, true, 'node-saml accepts the signed LogoutResponse');

    // The answer cannot be played again, and the SSO session is gone: the next login asks for the card.
    assert.equal((await call(await spAnswers('https://b.example', toB.url, true), { ca: system.tls.ca })).status, 400);
    const again = await call(await spOf('https://a.example').getAuthorizeUrlAsync('', 'sp', {}), { ca: system.tls.ca, headers: { cookie: [...jar].map(([k, v]) => `${k}=${v}`).join('; ') } });
    assert.match(String(again.headers.location), /^\/authn\/card\/start\?/, 'a new card login, not a response');
  });

  it('PartialLogout when a participant has no SingleLogoutService, answers with a failure, or an OIDC client has no back-channel URI', async () => {
    for (const failure of ['no-slo', 'b-fails', 'oidc-untold'] as const) {
      const jar = new Map<string, string>();
      if (failure === 'oidc-untold') await oidcLogin(jar);
      const a = await samlLogin('https://a.example', jar);
      await samlLogin('https://b.example', jar);
      if (failure === 'no-slo') await samlLogin('https://c.example', jar);
      const toB = await walk(await spOf('https://a.example').getLogoutUrlAsync(a, '', {}), jar);
      const back = await walk(await spAnswers('https://b.example', toB.url, failure !== 'b-fails'), jar);
      const { action, fields } = formOf(back.answer!.body);
      assert.equal(action, 'https://a.example/slo', failure);
      assert.match(Buffer.from(fields['SAMLResponse']!, 'base64').toString(), new RegExp(PARTIAL.replace(/\./g, '\\.')), failure);
    }
  });

  it('refuses a LogoutResponse for no logout under way, and one from another SP than the one asked', async () => {
    const jar = new Map<string, string>();
    const a = await samlLogin('https://a.example', jar);
    await samlLogin('https://b.example', jar);
    const toB = await walk(await spOf('https://a.example').getLogoutUrlAsync(a, '', {}), jar);
    const relayState = new URL(toB.url).searchParams.get('RelayState')!;
    const stray = await spOf('https://b.example').getLogoutResponseUrlAsync({ ID: '_none', issuer: `${base}/saml`, nameID: 'x', nameIDFormat: 'x' } as never, 'A'.repeat(32), {}, true);
    assert.equal((await call(stray, { ca: system.tls.ca })).status, 400);
    // A answers B's request: its signature is valid, but it is not B: not counted as B's logout.
    const fromA = await spOf('https://a.example').getLogoutResponseUrlAsync({ ID: '_x', issuer: `${base}/saml`, nameID: 'x', nameIDFormat: 'x' } as never, relayState, {}, true);
    const back = await walk(fromA, jar);
    const { fields } = formOf(back.answer!.body);
    assert.match(Buffer.from(fields['SAMLResponse']!, 'base64').toString(), /PartialLogout/);
  });
  it('a logout started over OIDC reaches the SAML SPs of the session: signed LogoutRequests through the browser, the OIDC client on the back channel, then the client’s post_logout_redirect_uri', async () => {
    logoutTokens.length = 0;
    const jar = new Map<string, string>();
    const rp = await oidcLogin(jar, receiverUrl);
    const a = await samlLogin('https://a.example', jar);
    const b = await samlLogin('https://b.example', jar);
    await samlLogin('https://c.example', jar);

    // A (HTTP-POST SLO) first: the confirmation goes on to the SAML chain, not yet to the client.
    const toA = await oidcLogout(jar, rp);
    assert.equal(logoutTokens.length, 1, 'the OIDC client was told over the back channel, once');
    const token = JSON.parse(Buffer.from(logoutTokens[0]!.split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;
    assert.equal(token['sid'], rp.claims['sid']);
    const fromA = await spAnswersPost('https://a.example', toA);
    assert.equal(fromA.profile.nameID, a.nameID, 'A is asked to end the session it was given');
    // B (HTTP-Redirect SLO) next, with its query-string signature; C has no SLO endpoint and is skipped.
    const toB = await walk(fromA.url, jar);
    const fromB = await spAnswers('https://b.example', toB.url, true);
    assert.equal(new URL(toB.url).searchParams.has('SAMLRequest'), true);
    assert.ok(b.nameID);
    const done = await walk(fromB, jar);
    assert.equal(done.url, `${BYE}?state=st`, 'the OIDC logout ends at the client, with its state');

    // The SSO session is gone: a SAML login asks for the card again, and the chain cannot be run twice.
    assert.equal(jar.has('tillit_sso'), false, 'the SSO cookie is cleared');
    const again = await call(await spOf('https://a.example').getAuthorizeUrlAsync('', 'sp', {}), { ca: system.tls.ca, headers: { cookie: [...jar].map(([k, v]) => `${k}=${v}`).join('; ') } });
    assert.match(String(again.headers.location), /^\/authn\/card\/start\?/, 'a new card login, not a response');
    assert.equal((await call(fromB, { ca: system.tls.ca })).status, 400, 'the last LogoutResponse cannot be played again');
  });

  it('an OIDC logout without SAML SPs goes straight to the client; "stay logged in" keeps the SSO session; a made-up or used chain key is refused', async () => {
    const jar = new Map<string, string>();
    const rp = await oidcLogin(jar);
    assert.equal((await oidcLogout(jar, rp)).url, `${BYE}?state=st`);

    const kept = new Map<string, string>();
    const staying = await oidcLogin(kept);
    const a = await samlLogin('https://a.example', kept);
    assert.equal((await oidcLogout(kept, staying, false)).url, `${BYE}?state=st`, 'only the client is logged out: no SAML chain');
    assert.ok(kept.has('tillit_sso'));
    const stillIn = await walk(await spOf('https://a.example').getAuthorizeUrlAsync('', 'sp', {}), kept);
    assert.equal(formOf(stillIn.answer!.body).action, 'https://a.example/acs', 'the SSO session still answers A');
    assert.ok(a.nameID);

    for (const key of ['A'.repeat(32), '../../etc', 'x'.repeat(64)]) assert.equal((await call(`${base}/saml/slo/oidc/${encodeURIComponent(key)}`, { ca: system.tls.ca })).status, 400, key);
    const used = new Map<string, string>();
    const rp2 = await oidcLogin(used);
    await samlLogin('https://b.example', used);
    const confirm = await send(client.buildEndSessionUrl(rp2.config, { id_token_hint: rp2.idToken, post_logout_redirect_uri: BYE }).href, used);
    const xsrf = /name="xsrf" value="([^"]+)"/.exec(confirm.body)![1]!;
    const action = unescape(/<form[^>]*action="([^"]+)"/.exec(confirm.body)![1]!);
    const confirmed = await send(new URL(action, base).href, used, { method: 'POST', body: `xsrf=${xsrf}&logout=yes` });
    const chain = new URL(confirmed.headers.location!, base).href;
    assert.match(chain, /\/saml\/slo\/oidc\/[A-Za-z0-9_-]{32}$/);
    assert.equal((await call(chain, { ca: system.tls.ca })).status, 303, 'the first visit runs the chain');
    assert.equal((await call(chain, { ca: system.tls.ca })).status, 400, 'the second is refused');
  });
});
