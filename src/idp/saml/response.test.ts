import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { SAML, type SamlConfig } from '@node-saml/node-saml';
import { SignedXml } from 'xml-crypto';
import { opensslCertificate } from '../../../test/support/openssl.ts';
import { databaseTargets } from '../../../test/support/stores.ts';
import type { Database } from '../../store/index.ts';
import { createSealer } from '../oidc/sealing.ts';
import { loadOrCreateIdpKeys, pemBody, type IdpKeys } from './keys.ts';
import { NAMEID_FORMATS } from './metadata.ts';
import { logoutResponse, nameIdFor, statusResponse, successResponse, type AssertionContent, type Idp, type Recipient } from './response.ts';
import { STATUS } from './status.ts';
import { xmlsecVerify } from './test-support.ts';
import { DIGEST_ALGORITHMS, ENVELOPED_SIGNATURE, EXCLUSIVE_C14N, SIGNATURE_ALGORITHMS, signElement } from './signing.ts';
import { NS, children, descendants, parseStrict, xmlBuilder } from './xml.ts';

const IDP = 'https://idp.example/saml';
const SP = 'https://sp.example/metadata';
const ACS = 'https://sp.example/acs';
const RESPONSE = `${NS.samlp}:Response`;
const ASSERTION = `${NS.saml}:Assertion`;

const spEncryption = opensslCertificate('/CN=sp encryption');

const HOSTILE = ['<script>alert(1)</script>', 'a & b', `"quoted" 'single'`, 'ends ]]> here', '</saml:AttributeValue><saml:AttributeValue>injected', 'bell\u0007 nul\u0000', 'Åsa Öberg-Ängström-'.repeat(100), 'cr\r lf\n tab\t crlf\r\n'];

describe(`SAML Response (${databaseTargets()[0]!.name})`, () => {
  let db: Database;
  let keys: IdpKeys;
  let idp: Idp;
  before(async () => {
    db = await databaseTargets()[0]!.open();
    keys = await loadOrCreateIdpKeys(db, createSealer(Buffer.alloc(32, 9)), { entityId: IDP, modulusLength: 2048, now: new Date() });
    idp = { entityId: IDP, keys, signatureAlgorithm: 'rsa-sha256' };
  });
  after(async () => {
    await db.close();
  });

  const recipient = (extra: Partial<Recipient> = {}): Recipient => ({ spEntityId: SP, acsUrl: ACS, inResponseTo: '_request1', signAssertion: true, encryptionCertificates: [], attributeProfile: 'sambi', ...extra });
  const content = (attributes: AssertionContent['attributes'] = { personalIdentityNumber: '191212121212', employeeHsaId: 'SE2321000016-1A2B' }): AssertionContent => ({
    nameId: { format: NAMEID_FORMATS.persistent, value: nameIdFor(NAMEID_FORMATS.persistent, '191212121212', SP, Buffer.alloc(32, 1)) },
    authnInstant: new Date(),
    sessionIndex: '_session1',
    loaUri: 'http://id.sambi.se/loa/loa3',
    authnMethod: 'oob-other',
    attributes,
  });
  /** node-saml as the SP, trusting our signing certificate. */
  const sp = (extra: Partial<SamlConfig> = {}) =>
    new SAML({ issuer: SP, callbackUrl: ACS, audience: SP, idpCert: pemBody(keys.signing.certificatePem), idpIssuer: IDP, wantAssertionsSigned: true, wantAuthnResponseSigned: true, validateInResponseTo: 'never', ...extra } as SamlConfig);
  const posted = (xml: string) => ({ SAMLResponse: Buffer.from(xml).toString('base64') });

  it('node-saml accepts the signed Response with a signed Assertion: NameID, SessionIndex, LoA and attributes', async () => {
    const xml = await successResponse(idp, recipient(), content(), new Date(), 300_000);
    const { profile } = await sp().validatePostResponseAsync(posted(xml));
    assert.ok(profile);
    assert.equal(profile.nameID, nameIdFor(NAMEID_FORMATS.persistent, '191212121212', SP, Buffer.alloc(32, 1)));
    assert.equal(profile.nameIDFormat, NAMEID_FORMATS.persistent);
    assert.equal(profile.sessionIndex, '_session1');
    assert.equal(profile['http://sambi.se/attributes/1/personalIdentityNumber'], '191212121212');
    assert.equal(profile['http://sambi.se/attributes/1/employeeHsaId'], 'SE2321000016-1A2B');
    assert.equal(profile['urn:sambi:names:attribute:levelOfAssurance'], 'http://id.sambi.se/loa/loa3');
    const assertion = parseStrict(xml, 1 << 20).documentElement!;
    assert.equal(descendants(assertion, NS.saml, 'AuthnContextClassRef')[0]!.textContent, 'http://id.sambi.se/loa/loa3');
    const confirmation = descendants(assertion, NS.saml, 'SubjectConfirmationData')[0]!;
    assert.equal(confirmation.getAttribute('Recipient'), ACS);
    assert.equal(confirmation.getAttribute('InResponseTo'), '_request1');
  });

  it('xmlsec1 verifies the Response signature and the Assertion signature with the IdP certificate', async () => {
    const xml = await successResponse(idp, recipient(), content(), new Date(), 300_000);
    const response = xmlsecVerify(xml, keys.signing.certificatePem, [RESPONSE, ASSERTION], "/*/*[local-name()='Signature']");
    assert.ok(response.ok, response.output);
    const assertion = xmlsecVerify(xml, keys.signing.certificatePem, [RESPONSE, ASSERTION], "/*/*[local-name()='Assertion']/*[local-name()='Signature']");
    assert.ok(assertion.ok, assertion.output);
    assert.equal(xmlsecVerify(xml.replace('191212121212', '191212121213'), keys.signing.certificatePem, [RESPONSE, ASSERTION], "/*/*[local-name()='Assertion']/*[local-name()='Signature']").ok, false);
    const root = parseStrict(xml, 1 << 20).documentElement!;
    const signedInfo = children(children(root, NS.ds, 'Signature')[0]!, NS.ds, 'SignedInfo')[0]!;
    assert.equal(children(signedInfo, NS.ds, 'SignatureMethod')[0]!.getAttribute('Algorithm'), 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256');
    assert.equal(children(signedInfo, NS.ds, 'Reference').length, 1);
  });

  it('encrypts the Assertion (AES-256-GCM, RSA-OAEP) to the SP key, which node-saml decrypts', async () => {
    const xml = await successResponse(idp, recipient({ encryptionCertificates: [pemBody(spEncryption.certificate)] }), content(), new Date(), 300_000);
    const root = parseStrict(xml, 1 << 20).documentElement!;
    assert.equal(children(root, NS.saml, 'Assertion').length, 0);
    const encrypted = children(root, NS.saml, 'EncryptedAssertion')[0]!;
    const methods = descendants(encrypted, NS.xenc, 'EncryptionMethod').map((m) => m.getAttribute('Algorithm'));
    assert.deepEqual(methods.sort(), ['http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p', 'http://www.w3.org/2009/xmlenc11#aes256-gcm']);
    assert.doesNotMatch(xml, /191212121212/);
    const { profile } = await sp({ decryptionPvk: spEncryption.key }).validatePostResponseAsync(posted(xml));
    assert.equal(profile!['http://sambi.se/attributes/1/personalIdentityNumber'], '191212121212');
    assert.ok(xmlsecVerify(xml, keys.signing.certificatePem, [RESPONSE], "/*/*[local-name()='Signature']").ok);
  });

  it('names attributes urn:oid: for an SP registered so; an unsigned Assertion when the SP asks only for a signed Response', async () => {
    const xml = await successResponse(idp, recipient({ attributeProfile: 'oid', signAssertion: false }), content(), new Date(), 300_000);
    const { profile } = await sp({ wantAssertionsSigned: false }).validatePostResponseAsync(posted(xml));
    assert.equal(profile!['urn:oid:1.2.752.29.4.13'], '191212121212');
    assert.equal(profile!['urn:oid:1.2.752.29.6.2.1'], 'SE2321000016-1A2B');
    await assert.rejects(sp().validatePostResponseAsync(posted(xml)), /signature/i, 'an SP wanting signed assertions refuses it');
  });

  it('carries hostile values as data: node-saml reads them back unchanged (characters XML cannot hold become U+FFFD)', async () => {
    const xml = await successResponse(idp, recipient(), content({ commissionName: HOSTILE[0]!, commissionRight: HOSTILE, name: HOSTILE[3]! }), new Date(), 300_000);
    const { profile } = await sp().validatePostResponseAsync(posted(xml));
    const expected = HOSTILE.map((v) => v.replace(/[\u0000-\u0008]/g, '\uFFFD'));
    assert.deepEqual(profile!['http://sambi.se/attributes/1/commissionRight'], expected);
    assert.equal(profile!['http://sambi.se/attributes/1/commissionName'], HOSTILE[0]);
    assert.equal(profile!['http://sambi.se/attributes/1/displayName'], HOSTILE[3]);
    assert.ok(xmlsecVerify(xml, keys.signing.certificatePem, [RESPONSE, ASSERTION], "/*/*[local-name()='Signature']").ok);
    // Signed on the DOM as built: a carriage return must still be one after the SP's parser (written &#xD;).
    assert.ok(xmlsecVerify(xml, keys.signing.certificatePem, [RESPONSE, ASSERTION], "/*/*[local-name()='Assertion']/*[local-name()='Signature']").ok);
    assert.match(xml, /cr&#xD; lf/);
  });

  it('signing the DOM as built gives the very digest and signature xml-crypto computes from the serialized document', async () => {
    for (const value of HOSTILE) {
      const b = xmlBuilder(NS.samlp, 'samlp:Response');
      const issuer = b.el(NS.saml, 'saml:Issuer', {}, [IDP]);
      b.fillRoot({ 'xmlns:saml': NS.saml, ID: '_same', Version: '2.0', Destination: `${ACS}?q=${value}` }, [
        issuer,
        b.el(NS.saml, 'saml:Assertion', { 'xmlns:xsi': NS.xsi, 'xmlns:xs': NS.xs, ID: '_inner' }, [b.el(NS.saml, 'saml:AttributeValue', { 'xsi:type': 'xs:string' }, [value])]),
      ]);
      const library = new SignedXml({ privateKey: keys.signing.privateKeyPem, signatureAlgorithm: SIGNATURE_ALGORITHMS['rsa-sha256'], canonicalizationAlgorithm: EXCLUSIVE_C14N });
      library.addReference({ xpath: '/*', transforms: [ENVELOPED_SIGNATURE, EXCLUSIVE_C14N], digestAlgorithm: DIGEST_ALGORITHMS['rsa-sha256'] });
      library.computeSignature(b.serialize(), { prefix: 'ds', location: { reference: "/*/*[local-name()='Issuer']", action: 'after' } });
      await signElement(b.root, keys.signing, 'rsa-sha256', { after: issuer });
      const valuesOf = (xml: string) => ['DigestValue', 'SignatureValue'].map((name) => new RegExp(`<ds:${name}>([^<]+)</ds:${name}>`).exec(xml)?.[1]);
      const [digest, signature] = valuesOf(b.serialize());
      assert.ok(digest && signature);
      assert.deepEqual([digest, signature], valuesOf(library.getSignedXml()), JSON.stringify(value).slice(0, 40));
    }
  });

  it('a status response is signed and names the status, which node-saml reports', async () => {
    const xml = await statusResponse(idp, ACS, '_request2', new Date(), STATUS.requester, STATUS.unknownPrincipal, 'not the person the service asked for & no other');
    assert.ok(xmlsecVerify(xml, keys.signing.certificatePem, [RESPONSE]).ok);
    await assert.rejects(sp().validatePostResponseAsync(posted(xml)), (e: Error & { xmlStatus?: string }) => {
      assert.match(e.message, /Requester/);
      assert.match(String(e.xmlStatus), /UnknownPrincipal/);
      assert.match(e.message, /not the person the service asked for & no other/);
      return true;
    });
    // NoPassive is how an SP learns a passive request found no session: node-saml answers it with no profile.
    const passive = await sp().validatePostResponseAsync(posted(await statusResponse(idp, ACS, '_request3', new Date(), STATUS.responder, STATUS.noPassive, 'no SSO session')));
    assert.equal(passive.profile, null);
  });

  it('a LogoutResponse says PartialLogout when other services of the session were not told', async () => {
    const partial = await logoutResponse(idp, 'https://sp.example/slo', '_logout1', new Date(), true);
    assert.ok(xmlsecVerify(partial, keys.signing.certificatePem, [`${NS.samlp}:LogoutResponse`]).ok);
    const codes = descendants(parseStrict(partial, 1 << 20).documentElement!, NS.samlp, 'StatusCode').map((c) => c.getAttribute('Value'));
    assert.deepEqual(codes, [STATUS.success, STATUS.partialLogout]);
    const complete = descendants(parseStrict(await logoutResponse(idp, 'https://sp.example/slo', '_logout2', new Date(), false), 1 << 20).documentElement!, NS.samlp, 'StatusCode').map((c) => c.getAttribute('Value'));
    assert.deepEqual(complete, [STATUS.success]);
  });

  it('persistent NameIDs are pairwise and stable; transient ones new each time', () => {
    const key = Buffer.alloc(32, 2);
    assert.equal(nameIdFor(NAMEID_FORMATS.persistent, 'p', 'sp1', key), nameIdFor(NAMEID_FORMATS.persistent, 'p', 'sp1', key));
    assert.notEqual(nameIdFor(NAMEID_FORMATS.persistent, 'p', 'sp1', key), nameIdFor(NAMEID_FORMATS.persistent, 'p', 'sp2', key));
    assert.notEqual(nameIdFor(NAMEID_FORMATS.transient, 'p', 'sp1', key), nameIdFor(NAMEID_FORMATS.transient, 'p', 'sp1', key));
    assert.doesNotMatch(nameIdFor(NAMEID_FORMATS.persistent, '191212121212', 'sp1', key), /1912/);
  });
});
