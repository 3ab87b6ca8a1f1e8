import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { generateServiceProviderMetadata } from '@node-saml/node-saml';
import { Command } from 'commander';
import { SignedXml } from 'xml-crypto';
import pino from 'pino';
import { loadConfig } from '../../config/index.ts';
import { openssl, scratch } from '../../../test/support/openssl.ts';
import { databaseTargets } from '../../../test/support/stores.ts';
import { createMemoryStore, type Database } from '../../store/index.ts';
import { registerSpCommands } from './cli.ts';
import { parseSpMetadata, SpMetadataRefused } from './sp-metadata.ts';
import { addServiceProvider, findServiceProvider, refreshAggregate, removeServiceProvider, serviceProviderCache, ServiceProviderError, SP_CACHE_MS } from './sps.ts';

const NOW = new Date();
const config = loadConfig({ env: {}, overrides: { dataDir: 'memory://' } });

/** An RSA key pair and self-signed certificate made by OpenSSL. */
function opensslCertificate(subject: string, keyAlgorithm = 'rsa:2048', keyOptions: string[] = []): { certificate: string; key: string } {
  const dir = scratch();
  try {
    const made = openssl(['req', '-x509', '-newkey', keyAlgorithm, ...keyOptions, '-nodes', '-subj', subject, '-days', '30', '-keyout', dir.path('key.pem'), '-out', dir.path('cert.pem')]);
    assert.ok(made.ok, made.output);
    return { certificate: dir.read('cert.pem').toString(), key: dir.read('key.pem').toString() };
  } finally {
    dir.done();
  }
}

const signing = opensslCertificate('/CN=journal signing');
const encryption = opensslCertificate('/CN=journal encryption');

/** Metadata as @node-saml/node-saml writes it for an SP: an outside author, not our builder. */
function nodeSamlMetadata(options: { issuer?: string; organization?: boolean } = {}) {
  return generateServiceProviderMetadata({
    issuer: options.issuer ?? 'https://journal.example/sp',
    callbackUrl: 'https://journal.example/saml/acs',
    logoutCallbackUrl: 'https://journal.example/saml/slo',
    publicCerts: signing.certificate,
    decryptionCert: encryption.certificate,
    decryptionPvk: encryption.key,
    privateKey: signing.key,
    wantAssertionsSigned: true,
    ...(options.organization === false
      ? {}
      : {
          metadataOrganization: {
            OrganizationName: [{ '@xml:lang': 'sv', '#text': 'Journalbolaget AB' }],
            OrganizationDisplayName: [
              { '@xml:lang': 'en', '#text': 'The Journal' },
              { '@xml:lang': 'sv', '#text': 'Journalen <vård> & omsorg' },
            ],
            OrganizationURL: [{ '@xml:lang': 'sv', '#text': 'https://journal.example/' }],
          },
        }),
  });
}

/** Signs an aggregate as a federation operator would (xml-crypto, enveloped, first child). */
function signAggregate(xml: string, keys: { certificate: string; key: string }): string {
  const signer = new SignedXml({ privateKey: keys.key, publicCert: keys.certificate, signatureAlgorithm: 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256', canonicalizationAlgorithm: 'http://www.w3.org/2001/10/xml-exc-c14n#' });
  signer.addReference({ xpath: '/*', transforms: ['http://www.w3.org/2000/09/xmldsig#enveloped-signature', 'http://www.w3.org/2001/10/xml-exc-c14n#'], digestAlgorithm: 'http://www.w3.org/2001/04/xmlenc#sha256' });
  signer.computeSignature(xml, { prefix: 'ds', location: { reference: '/*', action: 'prepend' } });
  return signer.getSignedXml();
}
const aggregateOf = (...entities: string[]) => `<md:EntitiesDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" ID="_federation" Name="test-federation">${entities.map((e) => e.replace(/^<\?xml[^>]*>/, '')).join('')}</md:EntitiesDescriptor>`;

const certBody = (pem: string) => pem.replace(/-----[A-Z ]+-----|\s/g, '');

/** Hand-written metadata for the shapes node-saml does not write (indexes, attribute services, flags). */
function metadata({ entityId = 'https://lab.example/sp', acs = `<md:AssertionConsumerService index="1" isDefault="true" Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://lab.example/acs"/>`, extra = '', root = '' } = {}) {
  return `<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="${entityId}"${root}>
  <md:SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol" AuthnRequestsSigned="true">
    <md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>${certBody(signing.certificate)}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>
    ${acs}${extra}
    <md:AttributeConsumingService index="3" isDefault="true"><md:ServiceName xml:lang="sv">Labb</md:ServiceName>
      <md:RequestedAttribute Name="urn:oid:1.2.752.29.4.13" isRequired="true"/></md:AttributeConsumingService>
  </md:SPSSODescriptor>
  <md:Organization><md:OrganizationName xml:lang="en">Lab</md:OrganizationName><md:OrganizationDisplayName xml:lang="en">Lab results</md:OrganizationDisplayName><md:OrganizationURL xml:lang="en">https://lab.example/</md:OrganizationURL></md:Organization>
</md:EntityDescriptor>`;
}

describe('SP metadata', () => {
  it('reads what node-saml writes: entity, endpoints, keys, display name', () => {
    const d = parseSpMetadata(nodeSamlMetadata(), NOW);
    assert.equal(d.entityId, 'https://journal.example/sp');
    assert.deepEqual(d.displayNames, { en: 'The Journal', sv: 'Journalen <vård> & omsorg' });
    assert.equal(d.wantAssertionsSigned, true);
    assert.deepEqual(d.assertionConsumerServices, [{ binding: 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST', location: 'https://journal.example/saml/acs', index: 1, isDefault: true }]);
    assert.equal(d.singleLogoutServices[0]!.location, 'https://journal.example/saml/slo');
    assert.deepEqual(d.signingCertificates, [certBody(signing.certificate)]);
    assert.deepEqual(d.encryptionCertificates, [certBody(encryption.certificate)]);
  });

  it('reads indexes, defaults, the AttributeConsumingService and AuthnRequestsSigned', () => {
    const d = parseSpMetadata(metadata(), NOW);
    assert.equal(d.authnRequestsSigned, true);
    assert.deepEqual(d.attributeConsumingServices, [{ index: 3, isDefault: true, requested: [{ name: 'urn:oid:1.2.752.29.4.13', required: true }] }]);
    assert.equal(d.assertionConsumerServices[0]!.isDefault, true);
  });

  it('refuses metadata it cannot rely on, naming what is wrong', () => {
    const refused = (xml: string, reason: RegExp) => assert.throws(() => parseSpMetadata(xml, NOW), (e: unknown) => e instanceof SpMetadataRefused && reason.test(e.message));
    refused(`<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>${metadata()}`, /DOCTYPE/);
    refused(`<md:EntitiesDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata">${metadata()}</md:EntitiesDescriptor>`, /aggregate/);
    refused(metadata({ acs: '<md:AssertionConsumerService index="1" Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Artifact" Location="https://lab.example/acs"/>' }), /no AssertionConsumerService for HTTP-POST/);
    refused(metadata({ acs: '<md:AssertionConsumerService index="1" Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="http://lab.example/acs"/>' }), /only https/);
    refused(metadata({ acs: '<md:AssertionConsumerService index="x" Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://lab.example/acs"/>' }), /index "x"/);
    refused(metadata({ extra: '<md:AssertionConsumerService index="1" Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://lab.example/acs2"/>' }), /share an index/);
    refused(metadata({ root: ' validUntil="2001-01-01T00:00:00Z"' }), /expired/);
    refused(metadata({ entityId: '' }), /entityID missing/);
    refused(metadata().replace(certBody(signing.certificate), 'AAAA'), /does not parse/);
    refused(metadata().replace(certBody(signing.certificate), certBody(opensslCertificate('/CN=ec', 'ec', ['-pkeyopt', 'ec_paramgen_curve:P-256']).certificate)), /only RSA/);
    refused(metadata().replace('<md:SPSSODescriptor', '<md:SPSSODescriptor ID="x"').replace('<md:Organization>', '<md:Organization ID="x">'), /two elements of ID/);
  });
});

describe(`SP registry and tillit sp (${databaseTargets()[0]!.name})`, () => {
  let db: Database;
  let metadataServer: ReturnType<typeof createServer>;
  let metadataUrl: string;
  let aggregateBody = '';
  const files = scratch();
  before(async () => {
    db = await databaseTargets()[0]!.open();
    metadataServer = createServer((request, response) => {
      if (request.url === '/metadata') response.writeHead(200, { 'content-type': 'application/samlmetadata+xml' }).end(metadata());
      else if (request.url === '/aggregate') response.writeHead(200).end(aggregateBody);
      else if (request.url === '/huge') response.writeHead(200).end('<a>' + 'x'.repeat(2 << 20) + '</a>');
      else response.writeHead(404).end();
    });
    await new Promise<void>((resolve) => metadataServer.listen(0, '127.0.0.1', resolve));
    metadataUrl = `http://127.0.0.1:${(metadataServer.address() as { port: number }).port}`;
  });
  after(async () => {
    await db.close();
    metadataServer.close();
    files.done();
  });

  async function run(...args: string[]): Promise<string> {
    const program = new Command().exitOverride().configureOutput({ writeErr: () => {} });
    registerSpCommands(program, async () => ({ config, db, ephemeral: createMemoryStore(), log: pino({ level: 'silent' }), now: () => NOW, close: async () => {} }));
    const lines: string[] = [];
    const original = console.log;
    console.log = (line: string) => lines.push(line);
    try {
      await program.parseAsync(['node', 'tillit', ...args]);
    } finally {
      console.log = original;
    }
    return lines.join('\n');
  }

  it('adds an SP from a metadata file with the display name from OrganizationDisplayName, lists, shows and removes it', async () => {
    const file = files.file('journal.xml', nodeSamlMetadata());
    const added = JSON.parse(await run('sp', 'add', '--metadata', file, '--methods', 'oob-other', '--attributes', 'employeeHsaId,urn:oid:1.2.752.29.4.13,http://sambi.se/attributes/1/commissionHsaId', '--attribute-names', 'oid', '--json'));
    assert.equal(added.displayName, 'Journalen <vård> & omsorg');
    assert.deepEqual(added.methods, ['oob-other']);
    assert.deepEqual(added.attributes, ['employeeHsaId', 'personalIdentityNumber', 'commissionHsaId']);
    assert.equal(added.attributeNames, 'oid');
    assert.equal(added.encryptAssertions, true);
    assert.equal(added.signAssertions, true);
    assert.match(await run('sp', 'list'), /https:\/\/journal\.example\/sp\tJournalen/);
    const stored = await findServiceProvider(db, 'https://journal.example/sp');
    assert.equal(stored!.descriptor.assertionConsumerServices[0]!.location, 'https://journal.example/saml/acs');
    assert.match(await run('sp', 'show', 'https://journal.example/sp'), /assertionConsumerServices: 1\* HTTP-POST https:\/\/journal\.example\/saml\/acs/);
    await assert.rejects(run('sp', 'add', '--metadata', file), /already registered/);
    const replaced = JSON.parse(await run('sp', 'add', '--metadata', file, '--replace', '--no-sign-assertions', '--json'));
    assert.equal(replaced.signAssertions, false);
    assert.deepEqual(replaced.attributes, ['name', 'given_name', 'family_name', 'personalIdentityNumber', 'employeeHsaId'], 'replacing keeps nothing of the old settings');
    assert.match(await run('sp', 'remove', 'https://journal.example/sp'), /removed/);
    await assert.rejects(run('sp', 'show', 'https://journal.example/sp'), /no service provider/);
  });

  it('fetches metadata from a URL, with a size cap', async () => {
    const added = JSON.parse(await run('sp', 'add', '--metadata', `${metadataUrl}/metadata`, '--json'));
    assert.equal(added.entityId, 'https://lab.example/sp');
    assert.equal(added.displayName, 'Lab results');
    assert.equal(added.signedRequests, 'required', 'the metadata says AuthnRequestsSigned');
    await assert.rejects(run('sp', 'add', '--metadata', `${metadataUrl}/huge`), /larger than/);
    await assert.rejects(run('sp', 'add', '--metadata', `${metadataUrl}/missing`), /HTTP 404/);
    await assert.rejects(run('sp', 'add', '--metadata', 'http://lab.example/metadata'), /only over https/);
  });

  it('refuses an SP without a display name unless one is given, and unknown methods or attributes, storing nothing', async () => {
    const bare = nodeSamlMetadata({ issuer: 'https://bare.example/sp', organization: false });
    await assert.rejects(addServiceProvider(db, { metadataXml: bare, metadataSource: 'test' }, NOW), (e: unknown) => e instanceof ServiceProviderError && /no OrganizationDisplayName.*--name/.test(e.message));
    await assert.rejects(addServiceProvider(db, { metadataXml: bare, metadataSource: 'test', displayName: 'Bare', methods: ['password'] }, NOW), /unknown login method password/);
    await assert.rejects(addServiceProvider(db, { metadataXml: bare, metadataSource: 'test', displayName: 'Bare', attributes: ['urn:oid:9.9'] }, NOW), /unknown attribute urn:oid:9\.9/);
    await assert.rejects(addServiceProvider(db, { metadataXml: bare, metadataSource: 'test', displayName: 'Bare', attributeProfile: 'x500' }, NOW), /unknown attribute naming/);
    assert.equal(await findServiceProvider(db, 'https://bare.example/sp'), null);
    const added = await addServiceProvider(db, { metadataXml: bare, metadataSource: 'test', displayName: 'Bare' }, NOW);
    assert.equal(added.displayName, 'Bare');
  });

  it('registers the SPs of a federation aggregate signed with the trusted certificate, and refuses one that is not', async () => {
    const federation = opensslCertificate('/CN=federation operator');
    const stranger = opensslCertificate('/CN=not the federation');
    const entity = (xml: string) => xml.replace(/^<\?xml[^>]*>/, '');
    const unsigned = `<md:EntitiesDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" ID="_federation" Name="test-federation">${entity(metadata({ entityId: 'https://fed-a.example/sp' }))}${entity(nodeSamlMetadata({ issuer: 'https://fed-b.example/sp' }))}${entity(nodeSamlMetadata({ issuer: 'https://fed-c.example/sp', organization: false }))}</md:EntitiesDescriptor>`;
    const sign = signAggregate;
    const trusted = files.file('federation.pem', federation.certificate);
    const signed = sign(unsigned, federation);
    const result = JSON.parse(await run('sp', 'add', '--metadata', files.file('aggregate.xml', signed), '--aggregate-certificate', trusted, '--json'));
    assert.deepEqual(result.added.map((a: { entityId: string }) => a.entityId).sort(), ['https://fed-a.example/sp', 'https://fed-b.example/sp']);
    assert.deepEqual(result.skipped.map((s: { entityId: string }) => s.entityId), ['https://fed-c.example/sp'], 'no display name: skipped with the reason');
    assert.match(result.skipped[0].reason, /OrganizationDisplayName/);
    assert.equal((await findServiceProvider(db, 'https://fed-b.example/sp'))!.displayName, 'Journalen <vård> & omsorg');

    const refused = async (xml: string, reason: RegExp) => assert.rejects(run('sp', 'add', '--metadata', files.file('refused.xml', xml), '--aggregate-certificate', trusted, '--replace'), reason);
    await refused(sign(unsigned, stranger), /does not verify/);
    assert.notEqual(signed.replace('https://lab.example/acs', 'https://evil.example/acs'), signed);
    await refused(signed.replace('https://lab.example/acs', 'https://evil.example/acs'), /does not verify/);
    await refused(unsigned, /expected one signature/);
    await refused(sign(unsigned.replace('Name="test-federation"', 'Name="test-federation" validUntil="2001-01-01T00:00:00Z"'), federation), /expired/);
    assert.equal((await findServiceProvider(db, 'https://fed-a.example/sp'))!.descriptor.assertionConsumerServices[0]!.location, 'https://lab.example/acs', 'nothing changed by a refused aggregate');
  });

  it('refreshes an aggregate on schedule: SPs added, changed and removed as the signed aggregate says; a bad one changes nothing', async () => {
    const federation = opensslCertificate('/CN=federation refresh');
    const spec = { source: `${metadataUrl}/aggregate`, certificateFile: files.file('refresh-federation.pem', federation.certificate), attributes: ['personalIdentityNumber'] };
    const read = (path: string) => import('node:fs/promises').then((fs) => fs.readFile(path, 'utf8'));
    aggregateBody = signAggregate(aggregateOf(metadata({ entityId: 'https://ref-a.example/sp' }), metadata({ entityId: 'https://ref-b.example/sp' })), federation);
    const first = await refreshAggregate(db, spec, read, NOW);
    assert.deepEqual(first.added.sort(), ['https://ref-a.example/sp', 'https://ref-b.example/sp']);
    assert.deepEqual((await findServiceProvider(db, 'https://ref-a.example/sp'))!.allowedAttributes, ['personalIdentityNumber']);
    aggregateBody = signAggregate(aggregateOf(metadata({ entityId: 'https://ref-a.example/sp', acs: '<md:AssertionConsumerService index="1" Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://lab.example/new-acs"/>' })), federation);
    const second = await refreshAggregate(db, spec, read, NOW);
    assert.deepEqual(second.removed, ['https://ref-b.example/sp']);
    assert.equal(await findServiceProvider(db, 'https://ref-b.example/sp'), null);
    assert.equal((await findServiceProvider(db, 'https://ref-a.example/sp'))!.descriptor.assertionConsumerServices[0]!.location, 'https://lab.example/new-acs');
    aggregateBody = aggregateBody.replace('new-acs', 'evil-acs');
    await assert.rejects(refreshAggregate(db, spec, read, NOW), /does not verify/);
    assert.equal((await findServiceProvider(db, 'https://ref-a.example/sp'))!.descriptor.assertionConsumerServices[0]!.location, 'https://lab.example/new-acs');
  });

  it('a cached SP lookup answers for SP_CACHE_MS, then reads the registry again: a removed SP is unknown from then on', async () => {
    const entityId = 'https://cached.example/sp';
    await addServiceProvider(db, { metadataXml: metadata({ entityId }), metadataSource: 'test', displayName: 'Cached', methods: ['oob-other'] }, NOW);
    let clock = NOW.getTime();
    const find = serviceProviderCache(db, () => clock);
    assert.equal((await find(entityId))?.entityId, entityId);
    assert.equal(await find('https://unknown.example/sp'), null);
    assert.ok(await removeServiceProvider(db, entityId));
    clock += SP_CACHE_MS - 1;
    assert.equal((await find(entityId))?.entityId, entityId, 'within SP_CACHE_MS the cached row answers');
    clock += 1;
    assert.equal(await find(entityId), null, 'after SP_CACHE_MS the removal is seen');
  });
});
