import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { generateServiceProviderMetadata, type SamlConfig } from '@node-saml/node-saml';
import { curlGet } from '../../../test/support/curl.ts';
import { call } from '../../../test/support/http.ts';
import { openssl, scratch } from '../../../test/support/openssl.ts';
import { startTestSystem } from '../../../test/support/system.ts';
import { pkiFrom, type Pki } from '../../pki/index.ts';
import { freePort } from '../oidc/test-support.ts';
import { addServiceProvider } from './index.ts';
import { testServiceProvider } from './test-support.ts';
import { NS, descendants, parseStrict } from './xml.ts';

const SP = 'https://lab.example/sp';
const ACS = 'https://lab.example/saml/acs';
const LOA3 = 'http://id.sambi.se/loa/loa3';
const TLS_CLIENT = 'urn:oasis:names:tc:SAML:2.0:ac:classes:TLSClient';

const unescape = (value: string) => value.replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');

describe('SAML login with a card over mutual TLS (curl presents the card, node-saml is the SP)', () => {
  let system: Awaited<ReturnType<typeof startTestSystem>>;
  let pki: Pki;
  let base: string;
  let files: ReturnType<typeof scratch>;
  let idpCertificate: string;
  let person: { hsaId: string; givenName: string; surname: string };
  const spKey = scratch();
  const made = openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=lab signing', '-days', '30', '-keyout', spKey.path('key.pem'), '-out', spKey.path('cert.pem')]);
  assert.ok(made.ok, made.output);
  const spSigning = { certificate: spKey.read('cert.pem').toString(), key: spKey.read('key.pem').toString() };
  spKey.done();

  before(async () => {
    const port = await freePort();
    base = `https://127.0.0.1:${port}`;
    system = await startTestSystem({ server: { host: '127.0.0.1', httpsPort: port, httpPort: 0, publicBaseUrl: base }, directory: { demo: { persons: 10 } }, oidc: { encryptionKey: Buffer.alloc(32, 6).toString('base64') }, saml: { keyBits: 2048 } });
    pki = pkiFrom(new Map(system.parts.map((p) => [p.name, p])));
    files = scratch();
    const [row] = await system.db.query<typeof person>(
      `select s.hsa_id as "hsaId", p.given_name as "givenName", p.surname from directory_service_identity s join directory_person p on p.id = s.person_id where s.valid_to is null order by s.hsa_id limit 1`,
    );
    person = row!;
    const metadata = await call(`${base}/saml/metadata`, { ca: system.tls.ca });
    idpCertificate = descendants(parseStrict(metadata.body, 1 << 20).documentElement!, NS.ds, 'X509Certificate')[0]!.textContent!;
    const spMetadata = generateServiceProviderMetadata({ issuer: SP, callbackUrl: ACS, logoutCallbackUrl: 'https://lab.example/saml/slo', publicCerts: spSigning.certificate, privateKey: spSigning.key, wantAssertionsSigned: true });
    await addServiceProvider(system.db, { metadataXml: spMetadata, metadataSource: 'test', displayName: 'Labbet', methods: ['mtls'], attributes: ['employeeHsaId', 'given_name'] }, new Date());
    await addServiceProvider(system.db, { metadataXml: spMetadata.replaceAll(SP, `${SP}/app-only`), metadataSource: 'test', displayName: 'Appen', methods: ['oob-other'], attributes: ['given_name'] }, new Date());
  });
  after(async () => {
    await system?.stop();
    files?.done();
  });

  const sp = (issuer = SP, options: Partial<SamlConfig> = {}) =>
    testServiceProvider(base, { entityId: issuer, acsUrl: ACS, idpCert: idpCertificate, privateKey: spSigning.key }, { logoutUrl: undefined, wantAuthnResponseSigned: true, ...options });

  const card = async (profile: 'person-auth-hsa-loa3' | 'person-sign-hsa-loa3') => {
    const issued = await pki.issueWithNewKey(profile, { commonName: `${person.givenName} ${person.surname}`, givenName: person.givenName, surname: person.surname, serialNumber: person.hsaId });
    return { cert: files.file(`${profile}.pem`, issued.certificatePem), key: files.file(`${profile}.key`, issued.privateKeyPem) };
  };

  /** A browser without JavaScript: the IdP's pages through `call`, the card presented by curl on each rolling host; stops at the first page. */
  async function walk(url: string, cards: (n: number) => { cert: string; key: string }, jar = new Map<string, string>()) {
    let hosts = 0;
    for (let hop = 0; hop < 20; hop++) {
      const target = new URL(url);
      if (target.hostname.startsWith('mtls-')) {
        hosts += 1;
        const answer = await curlGet(url, { cacert: files.file('root.pem', system.tls.ca), ...cards(hosts), resolve: [target.hostname] });
        assert.equal(answer.exitCode, 0, 'curl trusted the rolling host against the root');
        url = answer.location;
        continue;
      }
      assert.equal(target.origin, base, `stays on the IdP: ${url}`);
      const cookie = [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
      const answer = await call(url, { headers: { accept: 'text/html', ...(cookie ? { cookie } : {}) }, ca: system.tls.ca });
      for (const line of [answer.headers['set-cookie'] ?? []].flat()) {
        const [name, ...value] = line.split(';')[0]!.split('=');
        jar.set(name!.trim(), value.join('='));
      }
      if (answer.status < 300 || answer.status >= 400) return { url, answer, hosts };
      url = new URL(answer.headers.location!, url).href;
    }
    throw new Error('too many redirects');
  }

  it('logs in an SP registered with mtls by card alone (no method page); authnMethod is TLSClient; the SSO session then answers at once', async () => {
    const good = await card('person-auth-hsa-loa3');
    const jar = new Map<string, string>();
    const { answer, hosts } = await walk(await sp().getAuthorizeUrlAsync('r', 'lab.example', {}), () => good, jar);
    assert.equal(hosts, 1, 'straight to the first rolling host: mtls is the only method');
    assert.equal(answer.status, 200, answer.body.slice(0, 300));
    const action = /<form id="saml-post" method="post" action="([^"]+)"/.exec(answer.body);
    assert.equal(unescape(action![1]!), ACS);
    const fields = Object.fromEntries([...answer.body.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)].map((m) => [m[1]!, unescape(m[2]!)]));
    const { profile } = await sp().validatePostResponseAsync(fields);
    assert.ok(profile);
    assert.equal(profile['urn:sambi:names:attribute:authnMethod'], TLS_CLIENT);
    assert.equal(profile['urn:sambi:names:attribute:levelOfAssurance'], LOA3);
    assert.equal(profile['http://sambi.se/attributes/1/employeeHsaId'], person.hsaId, 'the card’s HSA-id is the service identity');
    const xml = Buffer.from(fields['SAMLResponse']!, 'base64').toString('utf8');
    assert.match(xml, /<saml:AuthnContextClassRef>http:\/\/id\.sambi\.se\/loa\/loa3<\/saml:AuthnContextClassRef>/);

    const again = await walk(await sp().getAuthorizeUrlAsync('', 'lab.example', {}), () => { throw new Error('no card asked for twice'); }, jar);
    assert.equal(again.hosts, 0);
    assert.match(again.answer.body, /id="saml-post"/);
  });

  it('explains a refused certificate and succeeds on the next rolling host with the right one', async () => {
    const wrong = await card('person-sign-hsa-loa3');
    const good = await card('person-auth-hsa-loa3');
    const first = await walk(await sp().getAuthorizeUrlAsync('', 'lab.example', {}), () => wrong);
    assert.equal(first.answer.status, 200);
    assert.doesNotMatch(first.answer.body, /id="saml-post"/, 'no response for a signature certificate');
    const retry = /href="([^"]*mtls-2[^"]*)"/.exec(first.answer.body) ?? /href="([^"]*\/card\/start[^"]*)"/.exec(first.answer.body);
    assert.ok(retry, `a new attempt is offered: ${first.answer.body.slice(0, 600)}`);
    const second = await walk(new URL(unescape(retry[1]!), first.url).href, () => good);
    assert.match(second.answer.body, /id="saml-post"/);
  });

  it('refuses card login for an SP not registered with mtls, and a forged card handle', async () => {
    const landed = await walk(await sp(`${SP}/app-only`).getAuthorizeUrlAsync('', 'lab.example', {}), () => { throw new Error('no card host'); });
    const key = /\/saml\/login\/([A-Za-z0-9_-]{32})/.exec(landed.url)![1]!;
    const start = await call(`${base}/saml/login/${key}/card/start`, { ca: system.tls.ca, headers: { accept: 'text/html' } });
    assert.equal(start.status, 400);
    const forged = await call(`${base}/saml/login/${key}/card?card=${'A'.repeat(43)}`, { ca: system.tls.ca, headers: { accept: 'text/html' } });
    assert.equal(forged.status, 303, 'no card login waits: back to the login page');
    assert.doesNotMatch(String(forged.headers['set-cookie'] ?? ''), /tillit_sso=/);
  });
});
