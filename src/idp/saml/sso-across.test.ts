import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { generateServiceProviderMetadata } from '@node-saml/node-saml';
import * as client from 'openid-client';
import { call } from '../../../test/support/http.ts';
import { opensslCertificate } from '../../../test/support/openssl.ts';
import { startTestSystem } from '../../../test/support/system.ts';
import { postJson } from '../../app/index.ts';
import { qrContent, type Challenge } from '../../authn/index.ts';
import { createDirectoryPart } from '../../directory/index.ts';
import type { PartContext, PartFactory } from '../../server/index.ts';
import { addClient, createOidcPart, openSealer } from '../oidc/index.ts';
import { eidHolder, fetchTrusting, freePort, holdersVerifier, testAuthnPart, type EidHolder } from '../oidc/test-support.ts';
import { addServiceProvider, createSamlPart } from './index.ts';
import { testServiceProvider } from './test-support.ts';
import { NS, descendants, parseStrict } from './xml.ts';

const SP = 'https://lab.example/sp';
const REDIRECT = 'https://rp.example/callback';

/** One SSO session for both protocols: log in over OpenID Connect, then SAML needs no new authentication; SAML logout ends it for both. */
describe('one SSO session across OpenID Connect and SAML (PGlite, memory)', () => {
  let system: Awaited<ReturnType<typeof startTestSystem>>;
  let context: PartContext;
  let base: string;
  const holders: EidHolder[] = [];
  const spKeys = opensslCertificate('/CN=lab signing');

  before(async () => {
    const port = await freePort();
    base = `https://127.0.0.1:${port}`;
    const parts = new Map<string, PartFactory>([
      ['directory', createDirectoryPart],
      ['authn', testAuthnPart(holdersVerifier(holders), (c) => (context = c))],
      ['oidc', createOidcPart],
      ['saml', createSamlPart],
    ]);
    system = await startTestSystem({ server: { host: '127.0.0.1', httpsPort: port, httpPort: 0, publicBaseUrl: base }, directory: { demo: { persons: 10 } }, oidc: { encryptionKey: Buffer.alloc(32, 6).toString('base64'), allowPrivateNetworkCalls: true }, saml: { keyBits: 2048 } }, parts);
    await addServiceProvider(
      context.db,
      { metadataXml: generateServiceProviderMetadata({ issuer: SP, callbackUrl: 'https://lab.example/acs', logoutCallbackUrl: 'https://lab.example/slo', publicCerts: spKeys.certificate, privateKey: spKeys.key, decryptionCert: null }), metadataSource: 'test', displayName: 'Labbet', attributes: ['personalIdentityNumber'], methods: ['oob-other'] },
      new Date(),
    );
  });
  after(async () => {
    await system?.stop();
  });

  it('an OIDC login lets the SAML SP in without the QR code, and SAML logout reports the OIDC client as not told (PartialLogout)', async () => {
    const [row] = await context.db.query<{ personnummer: string }>('select personnummer from directory_person order by personnummer limit 1');
    const holder = eidHolder({ personalIdentityNumber: row!.personnummer, givenName: 'T', surname: 'P' });
    holders.push(holder);
    const jar = new Map<string, string>();
    const send = async (url: string, options: { accept?: string } = {}) => {
      const answer = await call(url, { headers: { accept: options.accept ?? 'text/html', cookie: [...jar].map(([k, v]) => `${k}=${v}`).join('; ') }, ca: system.tls.ca });
      for (const line of [answer.headers['set-cookie'] ?? []].flat()) {
        const [name, ...value] = line.split(';')[0]!.split('=');
        if (line.includes('Max-Age=0')) jar.delete(name!.trim());
        else jar.set(name!.trim(), value.join('='));
      }
      return answer;
    };
    const follow = async (url: string) => {
      let location = url;
      let answer = await send(url);
      while (answer.status >= 300 && answer.status < 400 && location.startsWith(base)) {
        location = new URL(answer.headers.location!, location).href;
        if (!location.startsWith(base)) break;
        answer = await send(location);
      }
      return { location, answer };
    };

    // OpenID Connect login with the eID app.
    const { client: registered, secret } = await addClient(context.db, await openSealer(system.config), { displayName: 'Journalen', redirectUris: [REDIRECT], allowedClaims: ['personalIdentityNumber'], methods: ['oob-other'] });
    const fetch = fetchTrusting(system.tls.ca);
    const config = await client.discovery(new URL(`${base}/oidc`), registered.clientId, undefined, client.ClientSecretBasic(secret!), { [client.customFetch]: fetch });
    config[client.customFetch] = fetch;
    const verifier = client.randomPKCECodeVerifier();
    const landed = await follow(client.buildAuthorizationUrl(config, { redirect_uri: REDIRECT, scope: 'openid', code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256' }).href);
    assert.match(landed.location, /\/oidc\/interaction\/[^/]+\/wait$/);
    const pending = JSON.parse((await context.ephemeral.get(`idp:pending:${new URL(landed.location).pathname.split('/')[3]}`))!) as { qrStartToken: string; qrStartSecret: string; startedAt: number };
    const server = { baseUrl: base, ca: system.tls.ca };
    const challenge = (await postJson(server, 'app/v1/claim', { qr: qrContent(pending.qrStartToken, pending.qrStartSecret, Math.floor((Date.now() - pending.startedAt) / 1000)) })) as Challenge;
    await postJson(server, 'app/v1/answer', { orderRef: challenge.orderRef, nonce: challenge.nonce, ...holder.answer(challenge) });
    const status = JSON.parse((await send(landed.location.replace(/\/wait$/, '/status'), { accept: 'application/json' })).body) as { next: string };
    const done = await follow(new URL(status.next, base).href);
    assert.ok(done.location.startsWith(REDIRECT), done.location);
    const tokens = await client.authorizationCodeGrant(config, new URL(done.location), { pkceCodeVerifier: verifier });
    const authTime = tokens.claims()!.auth_time!;

    // SAML: straight to the response, same authentication instant.
    const metadata = await call(`${base}/saml/metadata`, { ca: system.tls.ca });
    const idpCert = descendants(parseStrict(metadata.body, 1 << 20).documentElement!, NS.ds, 'X509Certificate')[0]!.textContent!;
    const sp = testServiceProvider(base, { entityId: SP, acsUrl: 'https://lab.example/acs', idpCert, privateKey: spKeys.key }, { idpIssuer: undefined, identifierFormat: null });
    const saml = await follow(await sp.getAuthorizeUrlAsync('', 'lab.example', {}));
    assert.equal(saml.answer.status, 200);
    const fields = Object.fromEntries([...saml.answer.body.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)].map((m) => [m[1]!, m[2]!]));
    assert.ok(fields['SAMLResponse'], 'no QR code: the response at once');
    const { profile } = await sp.validatePostResponseAsync(fields);
    assert.equal(profile!['http://sambi.se/attributes/1/personalIdentityNumber'], row!.personnummer);
    const assertion = parseStrict(Buffer.from(fields['SAMLResponse']!, 'base64').toString('utf8'), 1 << 20).documentElement!;
    assert.equal(descendants(assertion, NS.saml, 'AuthnStatement')[0]!.getAttribute('AuthnInstant'), new Date(authTime * 1000).toISOString().replace('.000Z', 'Z'), 'the OIDC authentication, not a new one');

    // SAML logout ends the shared session; the OIDC client took part and was not told: PartialLogout.
    const logout = await follow(await sp.getLogoutUrlAsync(profile!, '', {}));
    const response = Buffer.from(/name="SAMLResponse" value="([^"]+)"/.exec(logout.answer.body)![1]!, 'base64').toString('utf8');
    assert.match(response, /urn:oasis:names:tc:SAML:2\.0:status:PartialLogout/);
    const again = await follow(client.buildAuthorizationUrl(config, { redirect_uri: REDIRECT, scope: 'openid', code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256' }).href);
    assert.match(again.location, /\/wait$/, 'OIDC asks for the eID again: the SSO session is gone');
  });
});
