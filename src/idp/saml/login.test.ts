import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { generateServiceProviderMetadata, type SamlConfig } from '@node-saml/node-saml';
import { call } from '../../../test/support/http.ts';
import { opensslCertificate } from '../../../test/support/openssl.ts';
import { startTestSystem } from '../../../test/support/system.ts';
import { systemStoreTargets } from '../../../test/support/system-stores.ts';
import { postJson } from '../../app/index.ts';
import { qrContent, type Challenge } from '../../authn/index.ts';
import { createDirectoryPart } from '../../directory/index.ts';
import type { PartContext, PartFactory } from '../../server/index.ts';
import { eidHolder, freePort, holdersVerifier, personsWithCommissions, testAuthnPart, type EidHolder } from '../oidc/test-support.ts';
import { addServiceProvider, createSamlPart } from './index.ts';
import { testServiceProvider, xmlsecVerify } from './test-support.ts';
import { NS, descendants, parseStrict } from './xml.ts';

const ENCRYPTION_KEY = Buffer.alloc(32, 4).toString('base64');
const SP = 'https://journal.example/sp';
const ACS = 'https://journal.example/saml/acs';
const LOA3 = 'http://id.sambi.se/loa/loa3';

const spSigning = opensslCertificate('/CN=journal signing');
const spEncryption = opensslCertificate('/CN=journal encryption');

/** A person's browser: keeps cookies, follows redirects on the IdP, stops at a page. */
function browser(ca: string) {
  const jar = new Map<string, string>();
  const send = async (url: string, options: { method?: string; body?: string; accept?: string } = {}) => {
    const cookie = [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
    const headers: Record<string, string> = { accept: options.accept ?? 'text/html', ...(cookie ? { cookie } : {}) };
    if (options.body !== undefined) headers['content-type'] = 'application/x-www-form-urlencoded';
    const answer = await call(url, { method: options.method ?? 'GET', headers, ca, ...(options.body !== undefined ? { body: options.body } : {}) });
    for (const line of [answer.headers['set-cookie'] ?? []].flat()) {
      const [pair] = line.split(';');
      const [name, ...value] = pair!.split('=');
      if (line.includes('Max-Age=0')) jar.delete(name!.trim());
      else jar.set(name!.trim(), value.join('='));
    }
    return answer;
  };
  const follow = async (url: string, first?: { method: string; body: string }) => {
    let answer = await send(url, first ?? {});
    let location = url;
    for (let hops = 0; answer.status >= 300 && answer.status < 400 && hops < 20; hops++) {
      location = new URL(answer.headers.location!, location).href;
      answer = await send(location);
    }
    return { location, answer };
  };
  return { send, follow, jar };
}

const unescape = (value: string) => value.replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');

/** The HTTP-POST binding's form on the IdP's last page: where it posts and what. */
function postedForm(body: string): { action: string; fields: Record<string, string> } {
  const action = /<form id="saml-post" method="post" action="([^"]+)"/.exec(body);
  assert.ok(action, `a form posting to the SP: ${body.slice(0, 400)}`);
  const fields: Record<string, string> = {};
  for (const match of body.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)) fields[match[1]!] = unescape(match[2]!);
  return { action: unescape(action[1]!), fields };
}

// On PostgreSQL + Redis too when DATABASE_URL and REDIS_URL are set: the SSO session's round trips on Redis are this path's.
for (const target of systemStoreTargets()) {
  describe(`SAML Web SSO with node-saml as the SP and the eID app (${target.name})`, () => {
    let system: Awaited<ReturnType<typeof startTestSystem>>;
    let context: PartContext;
    let base: string;
    let idpCertificate: string;
    const holders: EidHolder[] = [];
    let withCommissions: { personnummer: string; commissions: string[] };
    let stores: Awaited<ReturnType<typeof target.stores>>;

    before(async () => {
      stores = await target.stores();
      const port = await freePort();
      base = `https://127.0.0.1:${port}`;
      const parts = new Map<string, PartFactory>([
        ['directory', createDirectoryPart],
        ['authn', testAuthnPart(holdersVerifier(holders), (c) => (context = c))],
        ['saml', createSamlPart],
      ]);
      system = await startTestSystem({ ...stores.overrides, server: { host: '127.0.0.1', httpsPort: port, httpPort: 0, publicBaseUrl: base }, directory: { demo: { persons: 30 } }, oidc: { encryptionKey: ENCRYPTION_KEY }, saml: { keyBits: 2048 } }, parts);
      const rows = await personsWithCommissions(context.db);
      withCommissions = rows.find((r) => r.commissions.length >= 2)!;
      assert.ok(withCommissions, 'the demo region has a person with two commissions');
      const metadata = await call(`${base}/saml/metadata`, { ca: system.tls.ca });
      idpCertificate = descendants(parseStrict(metadata.body, 1 << 20).documentElement!, NS.ds, 'X509Certificate')[0]!.textContent!;
      await addServiceProvider(
        context.db,
        {
          metadataXml: generateServiceProviderMetadata({ issuer: SP, callbackUrl: ACS, logoutCallbackUrl: 'https://journal.example/saml/slo', publicCerts: spSigning.certificate, privateKey: spSigning.key, decryptionCert: spEncryption.certificate, decryptionPvk: spEncryption.key, wantAssertionsSigned: true }),
          metadataSource: 'test',
          displayName: 'Journalen',
          methods: ['oob-other'],
          attributes: ['personalIdentityNumber', 'given_name', 'commissionHsaId', 'healthCareUnitHsaId'],
        },
        new Date(),
      );
    });
    after(async () => {
      await system?.stop();
      await stores?.cleanup();
    });

    /** node-saml as the SP: it writes and signs the request and checks, decrypts and reads the response. */
    const sp = (options: Partial<SamlConfig> = {}) =>
      testServiceProvider(base, { entityId: SP, acsUrl: ACS, idpCert: idpCertificate, privateKey: spSigning.key }, { decryptionPvk: spEncryption.key, wantAuthnResponseSigned: true, ...options });

    function holderFor(personnummer: string) {
      const holder = eidHolder({ personalIdentityNumber: personnummer, givenName: 'Test', surname: 'Person' });
      holders.push(holder);
      return holder;
    }

    async function currentQr(waitUrl: string): Promise<string> {
      const raw = await context.ephemeral.get(`idp:pending:${new URL(waitUrl).pathname.split('/')[3]}`);
      const pending = JSON.parse(raw!) as { qrStartToken: string; qrStartSecret: string; startedAt: number };
      return qrContent(pending.qrStartToken, pending.qrStartSecret, Math.floor((Date.now() - pending.startedAt) / 1000));
    }

    /** The person scans the QR code with the eID app and the page moves on. */
    async function loginByQr(person: ReturnType<typeof browser>, holder: EidHolder, landed: { location: string; answer: { status: number; body: string } }) {
      assert.equal(landed.answer.status, 200, landed.answer.body.slice(0, 300));
      assert.match(landed.location, /\/saml\/login\/[^/]+\/wait$/);
      assert.match(landed.answer.body, /id="tillit-qr" src="data:image\/svg\+xml;base64,/);
      assert.match(landed.answer.body, /src="\/assets\/qr-poll\.js"/);
      const server = { baseUrl: base, ca: system.tls.ca };
      const challenge = (await postJson(server, 'app/v1/claim', { qr: await currentQr(landed.location) })) as Challenge;
      await postJson(server, 'app/v1/answer', { orderRef: challenge.orderRef, nonce: challenge.nonce, ...holder.answer(challenge) });
      const status = await person.send(landed.location.replace(/\/wait$/, '/status'), { accept: 'application/json' });
      const state = JSON.parse(status.body) as { status: string; next: string };
      assert.equal(state.status, 'complete', status.body);
      return person.follow(new URL(state.next, base).href);
    }

    it('logs in over the Redirect binding: QR, commission choice, encrypted signed assertion with the attributes; then SSO at the next request', async () => {
      const person = browser(system.tls.ca);
      const holder = holderFor(withCommissions.personnummer);
      const url = await sp().getAuthorizeUrlAsync('relay & state', 'journal.example', {});
      const landed = await person.follow(url);
      const choice = await loginByQr(person, holder, landed);
      assert.match(choice.answer.body, /name="choice"/, 'the commission choice page');
      for (const hsaId of withCommissions.commissions) assert.ok(choice.answer.body.includes(hsaId));
      const picked = withCommissions.commissions[1]!;
      const done = await person.follow(`${choice.location}/choose`, { method: 'POST', body: `choice=${encodeURIComponent(picked)}` });
      const form = postedForm(done.answer.body);
      assert.equal(form.action, ACS, 'the response goes to the ACS in the SP metadata');
      assert.equal(form.fields['RelayState'], 'relay & state');
      assert.match(String(done.answer.headers['content-security-policy']), /form-action 'self' https:\/\/journal\.example/);
      const xml = Buffer.from(form.fields['SAMLResponse']!, 'base64').toString('utf8');
      assert.doesNotMatch(xml, new RegExp(withCommissions.personnummer), 'the assertion is encrypted');
      assert.ok(xmlsecVerify(xml, `-----BEGIN CERTIFICATE-----\n${idpCertificate}\n-----END CERTIFICATE-----\n`, [`${NS.samlp}:Response`], "/*/*[local-name()='Signature']").ok, 'xmlsec1 verifies the Response');
      const { profile } = await sp().validatePostResponseAsync(form.fields);
      assert.ok(profile);
      assert.equal(profile['http://sambi.se/attributes/1/personalIdentityNumber'], withCommissions.personnummer);
      assert.equal(profile['http://sambi.se/attributes/1/commissionHsaId'], picked);
      assert.equal(profile['urn:sambi:names:attribute:levelOfAssurance'], LOA3);
      assert.equal(profile['urn:sambi:names:attribute:authnMethod'], 'oob-other');
      assert.equal(profile.nameIDFormat, 'urn:oasis:names:tc:SAML:2.0:nameid-format:persistent');
      assert.ok(profile.sessionIndex);

      // The next request rides on the SSO session: no QR code; PrincipalSelection picks the commission, so no choice either.
      const again = await sp({
        authnRequestBinding: 'HTTP-POST',
        skipRequestCompression: true,
        samlAuthnRequestExtensions: {
          'psc:PrincipalSelection': { '@xmlns:psc': 'http://id.swedenconnect.se/authn/1.0/principal-selection/ns', 'psc:MatchValue': [{ '@Name': 'http://sambi.se/attributes/1/commissionHsaId', '#text': withCommissions.commissions[0]! }] },
        },
      }).getAuthorizeFormAsync('', 'journal.example', {});
      const samlRequest = unescape(/name="SAMLRequest" value="([^"]+)"/.exec(again)![1]!);
      const second = await person.follow(`${base}/saml/sso`, { method: 'POST', body: `SAMLRequest=${encodeURIComponent(samlRequest)}` });
      const secondForm = postedForm(second.answer.body);
      const secondProfile = (await sp().validatePostResponseAsync(secondForm.fields)).profile!;
      assert.equal(secondProfile['http://sambi.se/attributes/1/commissionHsaId'], withCommissions.commissions[0]);
      assert.equal(secondProfile.nameID, profile.nameID, 'the persistent NameID is stable for this SP');
      assert.notEqual(secondProfile.sessionIndex, profile.sessionIndex);
      // Answered at once, it was never kept for the login pages; the same request again is a replay.
      const replayed = await person.follow(`${base}/saml/sso`, { method: 'POST', body: `SAMLRequest=${encodeURIComponent(samlRequest)}` });
      assert.equal(replayed.answer.status, 400);
      assert.doesNotMatch(replayed.answer.body, /SAMLResponse/);

      // Over the session but with a choice to make: the request is kept for the choice page, and answered once.
      const third = await person.follow(await sp().getAuthorizeUrlAsync('', 'journal.example', {}));
      assert.match(third.answer.body, /name="choice"/, 'the commission choice page, without the QR code');
      const chooseUrl = new URL(/action="([^"]*\/choose)"/.exec(third.answer.body)![1]!.replace(/&amp;/g, '&'), base).href;
      const chosen = await person.follow(chooseUrl, { method: 'POST', body: `choice=${encodeURIComponent(withCommissions.commissions[1]!)}` });
      const thirdProfile = (await sp().validatePostResponseAsync(postedForm(chosen.answer.body).fields)).profile!;
      assert.equal(thirdProfile['http://sambi.se/attributes/1/commissionHsaId'], withCommissions.commissions[1]);
      const again3 = await person.follow(chooseUrl, { method: 'POST', body: `choice=${encodeURIComponent(withCommissions.commissions[1]!)}` });
      assert.doesNotMatch(again3.answer.body, /SAMLResponse/, 'the kept request is answered once');
    });

    it('IsPassive without a session gets NoPassive; ForceAuthn asks for the eID again', async () => {
      const person = browser(system.tls.ca);
      const passive = await person.follow(await sp({ passive: true }).getAuthorizeUrlAsync('', 'journal.example', {}));
      const answer = await sp().validatePostResponseAsync(postedForm(passive.answer.body).fields);
      assert.equal(answer.profile, null, 'NoPassive');

      const holder = holderFor(withCommissions.personnummer);
      const first = await loginByQr(person, holder, await person.follow(await sp().getAuthorizeUrlAsync('', 'journal.example', {})));
      await person.follow(`${first.location}/choose`, { method: 'POST', body: `choice=${encodeURIComponent(withCommissions.commissions[0]!)}` });
      const forced = await person.follow(await sp({ forceAuthn: true }).getAuthorizeUrlAsync('', 'journal.example', {}));
      assert.match(forced.location, /\/wait$/, 'ForceAuthn: the QR page again despite the session');
    });

    it('a person other than the one PrincipalSelection names gets UnknownPrincipal, not a login; cancelling gets AuthnFailed', async () => {
      const person = browser(system.tls.ca);
      const holder = holderFor(withCommissions.personnummer);
      const first = await loginByQr(person, holder, await person.follow(await sp().getAuthorizeUrlAsync('', 'journal.example', {})));
      await person.follow(`${first.location}/choose`, { method: 'POST', body: `choice=${encodeURIComponent(withCommissions.commissions[0]!)}` });
      const selection = (personnummer: string) => ({
        samlAuthnRequestExtensions: { 'psc:PrincipalSelection': { '@xmlns:psc': 'http://id.swedenconnect.se/authn/1.0/principal-selection/ns', 'psc:MatchValue': [{ '@Name': 'urn:oid:1.2.752.29.4.13', '#text': personnummer }] } },
      });
      const other = await person.follow(await sp(selection('191212121212')).getAuthorizeUrlAsync('', 'journal.example', {}));
      await assert.rejects(sp().validatePostResponseAsync(postedForm(other.answer.body).fields), (e: Error & { xmlStatus?: string }) => /UnknownPrincipal/.test(String(e.xmlStatus)));

      const fresh = browser(system.tls.ca);
      const landed = await fresh.follow(await sp(selection(withCommissions.personnummer)).getAuthorizeUrlAsync('', 'journal.example', {}));
      assert.match(landed.location, /\/wait$/);
      const cancelled = await fresh.follow(landed.location.replace(/\/wait$/, '/cancel'), { method: 'POST', body: '' });
      await assert.rejects(sp().validatePostResponseAsync(postedForm(cancelled.answer.body).fields), (e: Error & { xmlStatus?: string }) => /AuthnFailed/.test(String(e.xmlStatus)));
    });

    it('single logout: a signed LogoutRequest ends the SSO session and gets a signed LogoutResponse at the SP', async () => {
      const person = browser(system.tls.ca);
      const holder = holderFor(withCommissions.personnummer);
      const first = await loginByQr(person, holder, await person.follow(await sp().getAuthorizeUrlAsync('', 'journal.example', {})));
      const done = await person.follow(`${first.location}/choose`, { method: 'POST', body: `choice=${encodeURIComponent(withCommissions.commissions[0]!)}` });
      const { profile } = await sp().validatePostResponseAsync(postedForm(done.answer.body).fields);
      const logoutUrl = await sp().getLogoutUrlAsync(profile!, 'after-logout', {});
      const loggedOut = await person.follow(logoutUrl);
      const form = postedForm(loggedOut.answer.body);
      assert.equal(form.action, 'https://journal.example/saml/slo');
      assert.equal(form.fields['RelayState'], 'after-logout');
      const xml = Buffer.from(form.fields['SAMLResponse']!, 'base64').toString('utf8');
      assert.match(xml, /<samlp:LogoutResponse /);
      assert.doesNotMatch(xml, /PartialLogout/, 'this SP was the only service of the session');
      const answer = await sp().validatePostResponseAsync(form.fields);
      assert.equal(answer.loggedOut, true);
      // The session is gone: the next login asks for the eID again; the same request again is a replay.
      assert.match((await person.follow(await sp().getAuthorizeUrlAsync('', 'journal.example', {}))).location, /\/wait$/);
      assert.equal((await person.follow(logoutUrl)).answer.status, 400);
      // Unsigned logout requests are refused: anyone could otherwise log people out.
      const unsigned = await person.follow(await sp({ privateKey: undefined as unknown as string }).getLogoutUrlAsync(profile!, '', {}));
      assert.equal(unsigned.answer.status, 400);
    });

    it('the built-in demo e-service logs in over SAML and shows the attributes it read from the signed response', async () => {
      const person = browser(system.tls.ca);
      const holder = holderFor(withCommissions.personnummer);
      const methods = await person.follow(`${base}/demo/saml/login`);
      assert.match(methods.answer.body, /name="method" value="oob-other"/, 'the demo accepts both methods: the method page');
      const start = /<form method="post" action="(\/saml\/login\/[^"]+\/start)">/.exec(methods.answer.body)![1]!;
      const landed = await person.follow(`${base}${start}`, { method: 'POST', body: 'method=oob-other' });
      const choice = await loginByQr(person, holder, landed);
      const done = await person.follow(`${choice.location}/choose`, { method: 'POST', body: `choice=${encodeURIComponent(withCommissions.commissions[0]!)}` });
      const form = postedForm(done.answer.body);
      assert.equal(form.action, `${base}/demo/saml/acs`);
      const shown = await person.follow(form.action, { method: 'POST', body: new URLSearchParams(form.fields).toString() });
      assert.equal(shown.location, `${base}/demo/saml`);
      assert.ok(shown.answer.body.includes(withCommissions.personnummer), shown.answer.body.split('<main')[1]?.slice(0, 1200));
      assert.ok(shown.answer.body.includes(withCommissions.commissions[0]!));
      assert.ok(shown.answer.body.includes(LOA3));
      // A response not started here, or altered, is not read.
      const replayed = await person.follow(form.action, { method: 'POST', body: new URLSearchParams(form.fields).toString() });
      assert.match(replayed.answer.body, /no login was started here/);
    });

    it('refuses an unknown SP or a tampered request with an error page, never a form to the SP', async () => {
      const person = browser(system.tls.ca);
      const stranger = await person.follow(await sp({ issuer: 'https://stranger.example' }).getAuthorizeUrlAsync('', 'x', {}));
      assert.equal(stranger.answer.status, 400);
      assert.doesNotMatch(stranger.answer.body, /saml-post/);
      const url = new URL(await sp({ callbackUrl: 'https://evil.example/acs' }).getAuthorizeUrlAsync('', 'x', {}));
      const evil = await person.follow(url.href);
      assert.equal(evil.answer.status, 400);
      assert.doesNotMatch(evil.answer.body, /evil\.example/);
      const tampered = await person.follow(`${base}/saml/sso?${url.search.slice(1).replace(/RelayState=[^&]*/, 'RelayState=x')}`);
      assert.equal(tampered.answer.status, 400);
    });
  });
}
