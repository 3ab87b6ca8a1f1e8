import assert from 'node:assert/strict';
import { deflateRawSync } from 'node:zlib';
import { after, before, describe, it } from 'node:test';
import { generateServiceProviderMetadata, SAML, type SamlConfig } from '@node-saml/node-saml';
import { SignedXml } from 'xml-crypto';
import { opensslCertificate } from '../../../test/support/openssl.ts';
import { databaseTargets } from '../../../test/support/stores.ts';
import { createMemoryStore, type Database, type EphemeralStore } from '../../store/index.ts';
import { validateAuthnRequest, type IncomingRequest, type RequestEnvironment } from './authn-request.ts';
import { addServiceProvider, findServiceProvider } from './sps.ts';
import { RequestRefused, SamlStatusError, STATUS } from './status.ts';

const SSO = 'https://idp.example/saml/sso';
const IDP = 'https://idp.example/saml';
const LOA2 = 'http://id.sambi.se/loa/loa2';
const LOA3 = 'http://id.sambi.se/loa/loa3';

const spKeys = opensslCertificate('/CN=sp signing');
const attackerKeys = opensslCertificate('/CN=attacker');
const SP = 'https://sp.example/metadata';
const ACS = 'https://sp.example/acs';

/** node-saml as the SP: it writes and signs the requests, not us. */
function nodeSaml(options: Partial<SamlConfig> = {}) {
  return new SAML({
    entryPoint: SSO,
    issuer: SP,
    callbackUrl: ACS,
    idpCert: spKeys.certificate,
    privateKey: spKeys.key,
    signatureAlgorithm: 'sha256',
    digestAlgorithm: 'sha256',
    authnContext: [LOA3],
    identifierFormat: null,
    ...options,
  } as SamlConfig);
}

async function redirectRequest(options: Partial<SamlConfig> = {}, relayState = 'state-1'): Promise<IncomingRequest> {
  const url = await nodeSaml(options).getAuthorizeUrlAsync(relayState, 'sp.example', {});
  return { binding: 'redirect', rawQuery: new URL(url).search.slice(1) };
}

/** The XML inside node-saml's auto-posting form. */
async function postXml(options: Partial<SamlConfig> = {}): Promise<string> {
  const form = await nodeSaml({ authnRequestBinding: 'HTTP-POST', skipRequestCompression: true, ...options }).getAuthorizeFormAsync('state-2', 'sp.example', {});
  const value = /name="SAMLRequest" value="([^"]+)"/.exec(form)![1]!;
  return Buffer.from(value, 'base64').toString('utf8');
}
const post = (xml: string, relayState?: string): IncomingRequest => ({ binding: 'post', form: { SAMLRequest: Buffer.from(xml).toString('base64'), ...(relayState ? { RelayState: relayState } : {}) } });

/** Signs a document the way an attacker holding some key would (xml-crypto, enveloped, after Issuer). */
function signAs(xml: string, key: string, certificate: string, options: { algorithm?: string; digest?: string; c14n?: string } = {}): string {
  const signer = new SignedXml({ privateKey: key, publicCert: certificate, signatureAlgorithm: options.algorithm ?? 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256', canonicalizationAlgorithm: options.c14n ?? 'http://www.w3.org/2001/10/xml-exc-c14n#' });
  signer.addReference({ xpath: '/*', transforms: ['http://www.w3.org/2000/09/xmldsig#enveloped-signature', options.c14n ?? 'http://www.w3.org/2001/10/xml-exc-c14n#'], digestAlgorithm: options.digest ?? 'http://www.w3.org/2001/04/xmlenc#sha256' });
  signer.computeSignature(xml, { prefix: 'ds', location: { reference: "/*/*[local-name()='Issuer']", action: 'after' } });
  return signer.getSignedXml();
}

describe(`AuthnRequest checks (${databaseTargets()[0]!.name})`, () => {
  let db: Database;
  let store: EphemeralStore;
  let env: RequestEnvironment;
  let now = new Date();

  before(async () => {
    db = await databaseTargets()[0]!.open();
    store = createMemoryStore();
    const metadata = generateServiceProviderMetadata({ issuer: SP, callbackUrl: ACS, publicCerts: spKeys.certificate, privateKey: spKeys.key, decryptionCert: null });
    // A second ACS (index 2) and an attribute service, as real metadata often has.
    assert.match(metadata, /AuthnRequestsSigned="true"/);
    // Signing is optional for this SP unless a test says otherwise (below, from its metadata flag or its registration).
    const withMore = metadata.replace('AuthnRequestsSigned="true"', 'AuthnRequestsSigned="false"').replace(
      /(<AssertionConsumerService [^>]*\/>)/,
      `$1<AssertionConsumerService index="2" Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://sp.example/acs2"/><AssertionConsumerService index="3" Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Artifact" Location="https://sp.example/artifact"/>` +
        `<AttributeConsumingService index="7"><ServiceName xml:lang="en">x</ServiceName><RequestedAttribute Name="urn:oid:1.2.752.29.4.13"/><RequestedAttribute Name="http://sambi.se/attributes/1/commissionHsaId"/></AttributeConsumingService>`,
    );
    await addServiceProvider(db, { metadataXml: withMore, metadataSource: 'test', displayName: 'SP', attributes: ['name', 'personalIdentityNumber', 'employeeHsaId', 'commissionHsaId'] }, now);

    env = {
      ssoUrl: SSO,
      idpEntityId: IDP,
      findSp: (entityId) => findServiceProvider(db, entityId),
      firstUse: (key, ttl) => store.setIfAbsent(key, '1', ttl),
      get now() {
        return now;
      },
      clockSkewMs: 60_000,
      lifetimeMs: 300_000,
      maxBytes: 64 * 1024,
      wantAuthnRequestsSigned: false,
      loaUris: { 2: [LOA2, 'http://id.elegnamnden.se/loa/1.0/loa2'], 3: [LOA3, 'http://id.elegnamnden.se/loa/1.0/loa3'] },
    };
  });
  after(async () => {
    await db.close();
    await store.close();
  });

  const refused = async (incoming: IncomingRequest | Promise<IncomingRequest>, reason: RegExp, environment?: RequestEnvironment) =>
    assert.rejects(validateAuthnRequest(await incoming, environment ?? env), (e: unknown) => {
      assert.ok(e instanceof RequestRefused, `expected RequestRefused, got ${String(e)}`);
      assert.match(e.message, reason);
      return true;
    });
  const answered = async (incoming: IncomingRequest | Promise<IncomingRequest>, subStatus: string | undefined, reason: RegExp) =>
    assert.rejects(validateAuthnRequest(await incoming, env), (e: unknown) => {
      assert.ok(e instanceof SamlStatusError, `expected SamlStatusError, got ${String(e)}`);
      assert.equal(e.subStatus, subStatus);
      assert.match(e.message, reason);
      return true;
    });

  describe('node-saml requests that pass', () => {
    it('Redirect binding, signed: ACS from metadata, RelayState, LoA, flags', async () => {
      const request = await validateAuthnRequest(await redirectRequest({ forceAuthn: true, identifierFormat: 'urn:oasis:names:tc:SAML:2.0:nameid-format:persistent' }), env);
      assert.equal(request.sp.entityId, SP);
      assert.equal(request.acsUrl, ACS);
      assert.equal(request.relayState, 'state-1');
      assert.equal(request.forceAuthn, true);
      assert.equal(request.isPassive, false);
      assert.equal(request.nameIdFormat, 'urn:oasis:names:tc:SAML:2.0:nameid-format:persistent');
      assert.deepEqual(request.acceptedLoas, [{ level: 3, uri: LOA3 }]);
      assert.deepEqual(request.attributes, ['personalIdentityNumber', 'commissionHsaId'], 'what its default AttributeConsumingService asks, of what it may receive');
    });

    it('POST binding, enveloped signature; IsPassive, minimum LoA, PrincipalSelection, Scoping', async () => {
      const xml = await postXml({
        passive: true,
        authnContext: ['http://id.elegnamnden.se/loa/1.0/loa2'],
        racComparison: 'minimum',
        scoping: { requesterId: ['https://portal.example'], idpList: [{ entries: [{ providerId: IDP }] }] },
        samlAuthnRequestExtensions: {
          'psc:PrincipalSelection': {
            '@xmlns:psc': 'http://id.swedenconnect.se/authn/1.0/principal-selection/ns',
            'psc:MatchValue': [{ '@Name': 'urn:oid:1.2.752.29.4.13', '#text': '191212121212' }, { '@Name': 'urn:oid:9.9.9', '#text': 'ignored' }],
          },
        },
      });
      assert.match(xml, /<ds:Signature|<Signature/);
      const request = await validateAuthnRequest(post(xml, 'rs'), env);
      assert.equal(request.isPassive, true);
      assert.equal(request.relayState, 'rs');
      assert.deepEqual(request.acceptedLoas, [
        { level: 2, uri: 'http://id.elegnamnden.se/loa/1.0/loa2' },
        { level: 3, uri: LOA3 },
      ]);
      assert.deepEqual(request.principalSelection, { personalIdentityNumber: ['191212121212'] });
      assert.deepEqual(request.requesterIds, ['https://portal.example']);
    });

    it('unsigned where the SP need not sign; ACS by index; attributes cut to its AttributeConsumingService', async () => {
      const xml = (await postXml({ privateKey: undefined as unknown as string, disableRequestAcsUrl: true, attributeConsumingServiceIndex: '7' } as Partial<SamlConfig>)).replace('<samlp:AuthnRequest ', '<samlp:AuthnRequest AssertionConsumerServiceIndex="2" ');
      assert.doesNotMatch(xml, /Signature/);
      const request = await validateAuthnRequest(post(xml), env);
      assert.equal(request.acsUrl, 'https://sp.example/acs2');
      assert.deepEqual(request.attributes, ['personalIdentityNumber', 'commissionHsaId']);
      assert.equal(request.nameIdFormat, 'urn:oasis:names:tc:SAML:2.0:nameid-format:transient');
    });
  });

  describe('refused with an error page (never a response to a URL the request named)', () => {
    it('unknown SP, wrong Destination, stale or future IssueInstant, replayed ID, wrong version', async () => {
      await refused(redirectRequest({ issuer: 'https://stranger.example' }), /unknown service provider/);
      await refused(redirectRequest({ entryPoint: 'https://other-idp.example/sso' }), /Destination "https:\/\/other-idp\.example\/sso" is not/);
      const stale = await redirectRequest();
      now = new Date(Date.now() + 6 * 60_000 + 61_000);
      await refused(stale, /IssueInstant .* is older than 300 s/);
      now = new Date(Date.now() - 2 * 60_000);
      await refused(redirectRequest(), /is in the future/);
      now = new Date();
      const once = await redirectRequest();
      await validateAuthnRequest(once, env);
      await refused(once, /already used/);
      const xml = (await postXml({ privateKey: undefined as unknown as string })).replace('Version="2.0"', 'Version="1.1"');
      await refused(post(xml), /Version "1\.1"/);
    });

    it('an ACS URL not in the metadata, an ACS that is not HTTP-POST, both URL and index', async () => {
      await refused(redirectRequest({ callbackUrl: 'https://evil.example/acs' }), /AssertionConsumerServiceURL "https:\/\/evil\.example\/acs" is not/);
      const unsigned = await postXml({ privateKey: undefined as unknown as string, disableRequestAcsUrl: true } as Partial<SamlConfig>);
      await refused(post(unsigned.replace('<samlp:AuthnRequest ', '<samlp:AuthnRequest AssertionConsumerServiceIndex="3" ')), /not HTTP-POST/);
      await refused(post(unsigned.replace('<samlp:AuthnRequest ', '<samlp:AuthnRequest AssertionConsumerServiceIndex="9" ')), /Index "9" is not in the metadata/);
      await refused(post(unsigned.replace('<samlp:AuthnRequest ', `<samlp:AuthnRequest AssertionConsumerServiceIndex="2" AssertionConsumerServiceURL="${ACS}" `)), /both an ACS URL and an ACS index/);
    });

    it('unsigned where a signature is required (by the SP registration, its metadata or the IdP)', async () => {
      const unsigned = post(await postXml({ privateKey: undefined as unknown as string }));
      await refused(unsigned, /must sign its requests/, { ...env, wantAuthnRequestsSigned: true });
      await db.query('update saml_service_providers set require_signed_requests = true where entity_id = $1', [SP]);
      try {
        await refused(post(await postXml({ privateKey: undefined as unknown as string })), /must sign its requests/);
        await refused(redirectRequest({ privateKey: undefined as unknown as string }), /must sign its requests/);
      } finally {
        await db.query('update saml_service_providers set require_signed_requests = false where entity_id = $1', [SP]);
      }
      await db.query(`update saml_service_providers set descriptor = jsonb_set(descriptor, '{authnRequestsSigned}', 'true') where entity_id = $1`, [SP]);
      try {
        await refused(post(await postXml({ privateKey: undefined as unknown as string })), /must sign its requests/);
      } finally {
        await db.query(`update saml_service_providers set descriptor = jsonb_set(descriptor, '{authnRequestsSigned}', 'false') where entity_id = $1`, [SP]);
      }
    });

    it('SHA-1 signatures in either binding, and inclusive c14n', async () => {
      await refused(redirectRequest({ signatureAlgorithm: 'sha1' }), /rsa-sha1 is not allowed/);
      await refused(post(await postXml({ signatureAlgorithm: 'sha1', digestAlgorithm: 'sha1' })), /rsa-sha1 is not allowed/);
      await refused(post(await postXml({ digestAlgorithm: 'sha1' })), /digest algorithm .*sha1 is not allowed/);
      const unsigned = await postXml({ privateKey: undefined as unknown as string });
      await refused(post(signAs(unsigned, spKeys.key, spKeys.certificate, { c14n: 'http://www.w3.org/TR/2001/REC-xml-c14n-20010315' })), /canonicalization .* is not allowed/);
    });

    it('Redirect: a changed message, RelayState or SigAlg breaks the signature; duplicate parameters; XML signature inside', async () => {
      const { rawQuery } = (await redirectRequest()) as { rawQuery: string };
      const params = new URLSearchParams(rawQuery);
      await refused({ binding: 'redirect', rawQuery: rawQuery.replace(/RelayState=[^&]*/, 'RelayState=other') }, /does not verify/);
      const otherXml = deflateRawSync((await postXml({ privateKey: undefined as unknown as string })).replace('sp.example/acs', 'sp.example/acs2')).toString('base64');
      await refused({ binding: 'redirect', rawQuery: rawQuery.replace(/SAMLRequest=[^&]*/, `SAMLRequest=${encodeURIComponent(otherXml)}`) }, /does not verify/);
      await refused({ binding: 'redirect', rawQuery: `${rawQuery}&SAMLRequest=${encodeURIComponent(params.get('SAMLRequest')!)}` }, /SAMLRequest twice/);
      await refused({ binding: 'redirect', rawQuery: rawQuery.replace(/&Signature=[^&]*/, '') }, /Signature and SigAlg go together/);
      const signedXml = deflateRawSync(await postXml()).toString('base64');
      await refused({ binding: 'redirect', rawQuery: `SAMLRequest=${encodeURIComponent(signedXml)}` }, /signature inside the XML/);
    });

    it('Redirect: an oversized message and a deflate bomb', async () => {
      const bomb = deflateRawSync(Buffer.from(`<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol">${' '.repeat(50 << 20)}</samlp:AuthnRequest>`));
      assert.ok(bomb.length < 100_000, 'the bomb is small on the wire');
      await refused({ binding: 'redirect', rawQuery: `SAMLRequest=${encodeURIComponent(bomb.toString('base64'))}` }, /inflates to more than 65536 bytes/);
      await refused({ binding: 'redirect', rawQuery: `SAMLRequest=${'A'.repeat(200_000)}` }, /longer than/);
      await refused(post(`<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol">${'x'.repeat(100_000)}</samlp:AuthnRequest>`), /larger than/);
      await refused({ binding: 'redirect', rawQuery: 'SAMLRequest=%%%' }, /percent-encoding/);
      await refused({ binding: 'redirect', rawQuery: 'SAMLRequest=bm90IGRlZmxhdGU=' }, /not DEFLATE/);
    });

    it('DOCTYPE, external entities, entity expansion, several roots, duplicate IDs, another message type', async () => {
      const unsigned = await postXml({ privateKey: undefined as unknown as string });
      await refused(post(`<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>${unsigned}`), /DOCTYPE/);
      await refused(post(`<!DOCTYPE x [<!ENTITY a "aaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;">]>${unsigned.replace(SP, '&b;')}`), /DOCTYPE/);
      await refused(post(`${unsigned}${unsigned}`), /not well-formed|root/);
      await refused(post(unsigned.replace(/<saml:Issuer/, '<samlp:Extensions><x ID="$ID"/></samlp:Extensions><saml:Issuer').replace('$ID', /ID="([^"]+)"/.exec(unsigned)![1]!)), /two elements of ID/);
      await refused(post(unsigned.replace(/samlp:AuthnRequest/g, 'samlp:LogoutRequest')), /expected samlp:AuthnRequest/);
    });

    it('a comment inside the Issuer (read differently by different readers)', async () => {
      const unsigned = await postXml({ privateKey: undefined as unknown as string });
      await refused(post(unsigned.replace(`>${SP}<`, `>https://sp.example<!---->/metadata<`)), /Issuer holds more than text/);
    });
  });

  describe('XML signature wrapping and signature tricks (POST binding)', () => {
    let signed: string;
    let id: string;
    before(async () => {
      signed = await postXml();
      id = /ID="([^"]+)"/.exec(signed)![1]!;
      await validateAuthnRequest(post(signed), env); // genuine and accepted once
      signed = await postXml();
      id = /ID="([^"]+)"/.exec(signed)![1]!;
    });
    const inner = () => signed.replace(/^<\?xml[^>]*>/, '');
    const evilRoot = (content: string, rootId = '_evil') =>
      `<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="${rootId}" Version="2.0" IssueInstant="${new Date().toISOString()}" Destination="${SSO}" AssertionConsumerServiceURL="${ACS}"><saml:Issuer>${SP}</saml:Issuer>${content}</samlp:AuthnRequest>`;

    it('XSW 1: the signed request wrapped inside an unsigned root', async () => {
      await refused(post(evilRoot(`<samlp:Extensions>${inner()}</samlp:Extensions>`)), /expected one signature, a child of the root/);
    });
    it('XSW 2: the signed request beside the signature under a new root of the same ID', async () => {
      await refused(post(evilRoot(`<samlp:Extensions>${inner()}</samlp:Extensions>`, id)), /two elements of ID/);
    });
    it('XSW 3: the signature moved to a new root that references the original, now nested', async () => {
      const signature = /<(ds:)?Signature[\s\S]*<\/(ds:)?Signature>/.exec(signed)![0];
      const stripped = inner().replace(signature, '');
      await refused(post(evilRoot(`${signature}<samlp:Extensions>${stripped}</samlp:Extensions>`)), /signed reference is not the root/);
    });
    it('XSW 4: the root changed and its ID kept (digest no longer matches)', async () => {
      await refused(post(signed.replace(ACS, 'https://sp.example/acs2')), /does not verify/);
    });
    it('XSW 5: a second signature (the attacker’s) nested in Extensions', async () => {
      const attacker = signAs(evilRoot('', '_a'), attackerKeys.key, attackerKeys.certificate).replace(/^<\?xml[^>]*>/, '');
      await refused(post(signed.replace(/(<\/(ds:)?Signature>)/, `$1<samlp:Extensions>${attacker}</samlp:Extensions>`)), /expected one signature/);
    });
    it('XSW 6: re-signed by the attacker with their own certificate in KeyInfo', async () => {
      await refused(post(signAs(evilRoot(''), attackerKeys.key, attackerKeys.certificate)), /does not verify with any signing certificate in the SP metadata/);
    });
    it('XSW 7: a second reference in SignedInfo to an attacker element', async () => {
      const extra = signed.replace(/<(ds:)?Reference /, (found, prefix = '') => `<${prefix}Reference URI="#_other"><${prefix}DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><${prefix}DigestValue>AAAA</${prefix}DigestValue></${prefix}Reference>${found}`);
      await refused(post(extra), /expected one signed reference, found 2/);
    });
    it('XSW 8: the signature emptied of its reference URI (whole-document reference)', async () => {
      await refused(post(signed.replace(`URI="#${id}"`, 'URI=""')), /signed reference is not the root/);
    });
    it('XSW 9: the signed content duplicated after the root element', async () => {
      await refused(post(`${inner()}${evilRoot('')}`), /not well-formed|root/);
    });
    it('a comment inside DigestValue (the content changed, a digest of the change hidden in a comment)', async () => {
      const withComment = signed.replace(ACS, 'https://sp.example/acs2').replace(/(<(ds:)?DigestValue>)/, '$1<!--bm90IHRoZSBkaWdlc3Qgb2YgdGhlIGNoYW5nZQ==-->');
      await refused(post(withComment), /DigestValue missing or holding more than text/);
      await refused(post(signed.replace(/(<(ds:)?SignatureValue>)/, '$1<!---->')), /SignatureValue missing or holding more than text/);
    });
    it('the genuine signed request is still accepted', async () => {
      const request = await validateAuthnRequest(post(signed), env);
      assert.equal(request.id, id);
    });
  });

  describe('answered with a SAML status at the SP’s own ACS', () => {
    const unsigned = (options: Partial<SamlConfig>) => postXml({ privateKey: undefined as unknown as string, ...options });
    it('NameIDPolicy it cannot meet', async () => {
      await answered(post(await unsigned({ identifierFormat: 'urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress' })), STATUS.invalidNameIdPolicy, /emailAddress is not supported/);
      await answered(post(await unsigned({ spNameQualifier: 'https://affiliation.example' } as Partial<SamlConfig>)), STATUS.invalidNameIdPolicy, /SPNameQualifier/);
    });
    it('an authentication context we do not offer', async () => {
      await answered(post(await unsigned({ authnContext: ['urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport'] })), STATUS.noAuthnContext, /none of the requested contexts/);
      await answered(post(await unsigned({ authnContext: [LOA3], racComparison: 'better' })), STATUS.noAuthnContext, /no LoA we offer is better/);
    });
    it('an unknown AttributeConsumingServiceIndex, an IDPList without us, a bad boolean', async () => {
      await answered(post(await unsigned({ attributeConsumingServiceIndex: '99' } as Partial<SamlConfig>)), undefined, /AttributeConsumingServiceIndex "99"/);
      await answered(post(await unsigned({ scoping: { idpList: [{ entries: [{ providerId: 'https://other-idp.example' }] }] } })), STATUS.noSupportedIdp, /IDPList/);
      await answered(post((await unsigned({})).replace('<samlp:AuthnRequest ', '<samlp:AuthnRequest ForceAuthn="yes" ')), undefined, /ForceAuthn="yes"/);
    });
  });
});
