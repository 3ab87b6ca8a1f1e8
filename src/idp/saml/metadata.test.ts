import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { X509Certificate } from 'node:crypto';
import { databaseTargets } from '../../../test/support/stores.ts';
import { call } from '../../../test/support/http.ts';
import { startTestSystem } from '../../../test/support/system.ts';
import type { PartFactory } from '../../server/index.ts';
import { createSealer } from '../oidc/sealing.ts';
import type { Database } from '../../store/index.ts';
import { createSamlPart } from './index.ts';
import { loadOrCreateIdpKeys, type IdpKeys } from './keys.ts';
import { idpMetadata } from './metadata.ts';
import { xmlsecVerify } from './test-support.ts';
import { NS, children, descendants, parseStrict, textOf } from './xml.ts';

const BASE = 'https://idp.example:8443';
const ENTITY_DESCRIPTOR = `${NS.md}:EntityDescriptor`;

describe(`SAML IdP metadata (${databaseTargets()[0]!.name})`, () => {
  let db: Database;
  let keys: IdpKeys;
  let xml: string;
  before(async () => {
    db = await databaseTargets()[0]!.open();
    keys = await loadOrCreateIdpKeys(db, createSealer(Buffer.alloc(32, 5)), { entityId: `${BASE}/saml`, modulusLength: 2048, now: new Date() });
    xml = await idpMetadata({
      publicBaseUrl: BASE,
      keys,
      signatureAlgorithm: 'rsa-sha256',
      wantAuthnRequestsSigned: false,
      loaUris: ['http://id.sambi.se/loa/loa2', 'http://id.sambi.se/loa/loa3'],
      organization: { name: { sv: 'Region <Demo> & "Co"', en: 'Region Demo' }, displayName: { sv: 'Regionens IdP', en: 'The region’s IdP' }, url: BASE },
      validUntil: new Date('2030-01-01T00:00:00Z'),
    });
  });
  after(async () => {
    await db.close();
  });

  it('is signed so that xmlsec1 verifies it with the signing certificate, and not once changed', () => {
    const verified = xmlsecVerify(xml, keys.signing.certificatePem, [ENTITY_DESCRIPTOR]);
    assert.ok(verified.ok, verified.output);
    assert.match(verified.output, /OK/);
    const tampered = xml.replace('http://id.sambi.se/loa/loa2', 'http://id.sambi.se/loa/loa4');
    assert.notEqual(tampered, xml);
    assert.equal(xmlsecVerify(tampered, keys.signing.certificatePem, [ENTITY_DESCRIPTOR]).ok, false);
    assert.equal(xmlsecVerify(xml, keys.encryption.certificatePem, [ENTITY_DESCRIPTOR]).ok, false, 'another key does not verify it');
  });

  it('signs with RSA-SHA256, exclusive c14n and one reference to the entity descriptor', () => {
    const root = parseStrict(xml, 1 << 20).documentElement!;
    const [signature] = children(root, NS.ds, 'Signature');
    assert.ok(signature, 'the signature is the first child');
    assert.equal(root.firstChild, signature);
    const signedInfo = children(signature, NS.ds, 'SignedInfo')[0]!;
    assert.equal(children(signedInfo, NS.ds, 'SignatureMethod')[0]!.getAttribute('Algorithm'), 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256');
    assert.equal(children(signedInfo, NS.ds, 'CanonicalizationMethod')[0]!.getAttribute('Algorithm'), 'http://www.w3.org/2001/10/xml-exc-c14n#');
    const references = children(signedInfo, NS.ds, 'Reference');
    assert.equal(references.length, 1);
    assert.equal(references[0]!.getAttribute('URI'), `#${root.getAttribute('ID')}`);
  });

  it('names the entity, its keys, endpoints, NameID formats, LoA, attributes and principal selection', () => {
    const root = parseStrict(xml, 1 << 20).documentElement!;
    assert.equal(root.getAttribute('entityID'), `${BASE}/saml`);
    assert.equal(root.getAttribute('validUntil'), '2030-01-01T00:00:00.000Z');
    const idp = children(root, NS.md, 'IDPSSODescriptor')[0]!;
    const keyOf = (use: string) => textOf(descendants(idp, NS.md, 'KeyDescriptor').filter((k) => k.getAttribute('use') === use)[0]!.getElementsByTagNameNS(NS.ds, 'X509Certificate')[0]!);
    assert.ok(new X509Certificate(Buffer.from(keyOf('signing'), 'base64')).checkPrivateKey(keys.signing.privateKey));
    assert.ok(new X509Certificate(Buffer.from(keyOf('encryption'), 'base64')).checkPrivateKey(keys.encryption.privateKey));
    const services = (name: string) => children(idp, NS.md, name).map((s) => `${s.getAttribute('Binding')!.split(':').at(-1)} ${s.getAttribute('Location')}`);
    assert.deepEqual(services('SingleSignOnService'), [`HTTP-Redirect ${BASE}/saml/sso`, `HTTP-POST ${BASE}/saml/sso`]);
    assert.deepEqual(services('SingleLogoutService'), [`HTTP-Redirect ${BASE}/saml/slo`, `HTTP-POST ${BASE}/saml/slo`]);
    assert.deepEqual(children(idp, NS.md, 'NameIDFormat').map(textOf), ['urn:oasis:names:tc:SAML:2.0:nameid-format:transient', 'urn:oasis:names:tc:SAML:2.0:nameid-format:persistent']);
    const certification = descendants(root, NS.mdattr, 'EntityAttributes')[0]!.getElementsByTagNameNS(NS.saml, 'Attribute')[0]!;
    assert.equal(certification.getAttribute('Name'), 'urn:oasis:names:tc:SAML:attribute:assurance-certification');
    assert.deepEqual(descendants(certification, NS.saml, 'AttributeValue').map(textOf), ['http://id.sambi.se/loa/loa2', 'http://id.sambi.se/loa/loa3']);
    const released = children(idp, NS.saml, 'Attribute').map((a) => a.getAttribute('Name'));
    for (const name of ['http://sambi.se/attributes/1/employeeHsaId', 'http://sambi.se/attributes/1/commissionHsaId', 'urn:allCommissions', 'urn:sambi:names:attribute:levelOfAssurance']) assert.ok(released.includes(name), name);
    const matchValues = descendants(descendants(idp, NS.psc, 'RequestedPrincipalSelection')[0]!, NS.psc, 'MatchValue').map((m) => m.getAttribute('Name'));
    assert.ok(matchValues.includes('urn:oid:1.2.752.29.4.13') && matchValues.includes('urn:oid:1.2.752.29.6.2.1'));
    const organization = children(root, NS.md, 'Organization')[0]!;
    assert.deepEqual(children(organization, NS.md, 'OrganizationName').map(textOf), ['Region <Demo> & "Co"', 'Region Demo'], 'values are escaped, not pasted');
    assert.deepEqual(children(organization, NS.md, 'OrganizationDisplayName').map((n) => n.getAttributeNS(NS.xml, 'lang')), ['sv', 'en']);
  });

  it('keeps the same keys across starts (sealed in the database)', async () => {
    const again = await loadOrCreateIdpKeys(db, createSealer(Buffer.alloc(32, 5)), { entityId: `${BASE}/saml`, modulusLength: 2048, now: new Date() });
    assert.equal(again.signing.certificatePem, keys.signing.certificatePem);
    const [row] = await db.query<{ sealed: Uint8Array }>(`select private_key_encrypted as sealed from saml_idp_keys where use = 'signing'`);
    assert.ok(!Buffer.from(row!.sealed).toString('latin1').includes('PRIVATE KEY'), 'the private key is not stored in the clear');
    await assert.rejects(loadOrCreateIdpKeys(db, createSealer(Buffer.alloc(32, 6)), { entityId: `${BASE}/saml`, modulusLength: 2048, now: new Date() }), /cannot decrypt/);
  });
});

describe('GET /saml/metadata', () => {
  let system: Awaited<ReturnType<typeof startTestSystem>>;
  before(async () => {
    system = await startTestSystem({ saml: { keyBits: 2048 } }, new Map<string, PartFactory>([['saml', createSamlPart]]));
  });
  after(async () => {
    await system?.stop();
  });

  it('serves the signed metadata that xmlsec1 verifies with the certificate it names', async () => {
    const answer = await call(`${system.httpsUrl}/saml/metadata`, { ca: system.tls.ca });
    assert.equal(answer.status, 200);
    assert.match(String(answer.headers['content-type']), /^application\/samlmetadata\+xml/);
    const root = parseStrict(answer.body, 1 << 20).documentElement!;
    assert.equal(root.getAttribute('entityID'), `${system.config.server.publicBaseUrl}/saml`);
    const signingKey = descendants(root, NS.md, 'KeyDescriptor').find((k) => k.getAttribute('use') === 'signing')!;
    const certificate = new X509Certificate(Buffer.from(textOf(descendants(signingKey, NS.ds, 'X509Certificate')[0]!), 'base64'));
    const verified = xmlsecVerify(answer.body, certificate.toString(), [ENTITY_DESCRIPTOR]);
    assert.ok(verified.ok, verified.output);
  });
});
