import { X509Certificate } from 'node:crypto';
import type { Element } from '@xmldom/xmldom';
import { pemBody } from './keys.ts';
import { BINDINGS } from './metadata.ts';
import { SignatureRefused, verifyEnvelopedRoot } from './signing.ts';
import { NS, XmlRefused, child, children, descendants, parseStrict, serialize, textOf } from './xml.ts';

/** SP metadata larger than this is refused (a single SP's descriptor is a few kilobytes). */
export const MAX_SP_METADATA_BYTES = 1 << 20;

export interface Endpoint {
  readonly binding: string;
  readonly location: string;
}
export interface IndexedEndpoint extends Endpoint {
  readonly index: number;
  readonly isDefault: boolean;
}
export interface LogoutEndpoint extends Endpoint {
  readonly responseLocation?: string;
}
export interface AttributeConsumingService {
  readonly index: number;
  readonly isDefault: boolean;
  readonly requested: readonly { readonly name: string; readonly required: boolean }[];
}

/** What we read from an SP's metadata: everything a request is checked against. */
export interface SpDescriptor {
  readonly entityId: string;
  /** OrganizationDisplayName by language (`sv`, `en`, …); empty when the metadata has none. */
  readonly displayNames: Readonly<Record<string, string>>;
  readonly authnRequestsSigned: boolean;
  readonly wantAssertionsSigned: boolean;
  /** Certificates (base64 DER) whose keys may sign the SP's requests. */
  readonly signingCertificates: readonly string[];
  /** Certificates (base64 DER) whose keys we encrypt assertions to. */
  readonly encryptionCertificates: readonly string[];
  readonly assertionConsumerServices: readonly IndexedEndpoint[];
  readonly singleLogoutServices: readonly LogoutEndpoint[];
  readonly nameIdFormats: readonly string[];
  readonly attributeConsumingServices: readonly AttributeConsumingService[];
  /** ISO time after which the metadata must not be used, if it says. */
  readonly validUntil?: string;
}

/** Metadata we will not register, with the reason. */
export class SpMetadataRefused extends Error {
  override readonly name = 'SpMetadataRefused';
}

const SAML2_PROTOCOL = 'urn:oasis:names:tc:SAML:2.0:protocol';

/**
 * Reads one SP's metadata (`md:EntityDescriptor` with an `SPSSODescriptor`)
 * strictly: every endpoint must be an https URL (http only on loopback, for
 * development), every certificate must parse, and there must be an
 * AssertionConsumerService for HTTP-POST, the binding our responses use.
 */
export function parseSpMetadata(xml: string, now: Date): SpDescriptor {
  let root: Element;
  try {
    root = parseStrict(xml, MAX_SP_METADATA_BYTES).documentElement!;
  } catch (error) {
    if (error instanceof XmlRefused) throw new SpMetadataRefused(`metadata: ${error.message}`);
    throw error;
  }
  if (root.namespaceURI === NS.md && root.localName === 'EntitiesDescriptor') throw new SpMetadataRefused('metadata: an aggregate (EntitiesDescriptor) is not one SP; register each EntityDescriptor on its own');
  if (root.namespaceURI !== NS.md || root.localName !== 'EntityDescriptor') throw new SpMetadataRefused(`metadata: expected md:EntityDescriptor, found ${root.localName}`);
  const entityId = root.getAttribute('entityID') ?? '';
  if (!entityId || entityId.length > 1024 || /\s/.test(entityId)) throw new SpMetadataRefused('metadata: entityID missing, longer than 1024 characters or with spaces');
  const validUntil = root.getAttribute('validUntil') ?? undefined;
  if (validUntil !== undefined) {
    const until = Date.parse(validUntil);
    if (Number.isNaN(until)) throw new SpMetadataRefused(`metadata: validUntil ${JSON.stringify(validUntil)} is not a time`);
    if (until <= now.getTime()) throw new SpMetadataRefused(`metadata: expired (validUntil ${validUntil})`);
  }
  const descriptors = children(root, NS.md, 'SPSSODescriptor').filter((d) => (d.getAttribute('protocolSupportEnumeration') ?? '').split(/\s+/).includes(SAML2_PROTOCOL));
  if (descriptors.length !== 1) throw new SpMetadataRefused(`metadata: expected one SPSSODescriptor for SAML 2.0, found ${descriptors.length}`);
  const sp = descriptors[0]!;

  const certificates = (use: 'signing' | 'encryption') =>
    children(sp, NS.md, 'KeyDescriptor')
      .filter((k) => (k.getAttribute('use') ?? use) === use)
      .flatMap((k) => descendants(k, NS.ds, 'X509Certificate').map((c) => checkCertificate(textOf(c).replace(/\s+/g, ''), entityId)));

  const assertionConsumerServices = children(sp, NS.md, 'AssertionConsumerService').map((e) => ({ ...endpoint(e), index: index(e), isDefault: bool(e, 'isDefault') }));
  if (!assertionConsumerServices.some((s) => s.binding === BINDINGS.post)) throw new SpMetadataRefused('metadata: no AssertionConsumerService for HTTP-POST (the binding responses are sent with)');
  const indexes = assertionConsumerServices.map((s) => s.index);
  if (new Set(indexes).size !== indexes.length) throw new SpMetadataRefused('metadata: two AssertionConsumerServices share an index');

  const attributeConsumingServices = children(sp, NS.md, 'AttributeConsumingService').map((s) => ({
    index: index(s),
    isDefault: bool(s, 'isDefault'),
    requested: children(s, NS.md, 'RequestedAttribute').map((a) => ({ name: a.getAttribute('Name') ?? '', required: bool(a, 'isRequired') })),
  }));

  const organization = child(root, NS.md, 'Organization');
  const displayNames: Record<string, string> = {};
  for (const name of organization ? children(organization, NS.md, 'OrganizationDisplayName') : []) {
    const text = textOf(name).trim();
    if (text) displayNames[name.getAttributeNS(NS.xml, 'lang') || 'en'] ??= text.slice(0, 200);
  }

  return {
    entityId,
    displayNames,
    authnRequestsSigned: bool(sp, 'AuthnRequestsSigned'),
    wantAssertionsSigned: bool(sp, 'WantAssertionsSigned'),
    signingCertificates: certificates('signing'),
    encryptionCertificates: certificates('encryption'),
    assertionConsumerServices,
    singleLogoutServices: children(sp, NS.md, 'SingleLogoutService').map((e) => {
      const responseLocation = e.getAttribute('ResponseLocation');
      return { ...endpoint(e), ...(responseLocation ? { responseLocation: checkUrl(responseLocation) } : {}) };
    }),
    nameIdFormats: children(sp, NS.md, 'NameIDFormat').map((e) => textOf(e).trim()),
    attributeConsumingServices,
    ...(validUntil !== undefined ? { validUntil } : {}),
  };
}

/** The name to show on the login pages: Swedish, then English, then any language. */
export function displayNameOf(descriptor: Pick<SpDescriptor, 'displayNames'>): string | undefined {
  const names = descriptor.displayNames;
  return names['sv'] ?? names['en'] ?? Object.values(names)[0];
}

function endpoint(element: Element): Endpoint {
  const binding = element.getAttribute('Binding');
  const location = element.getAttribute('Location');
  if (!binding || !location) throw new SpMetadataRefused(`metadata: ${element.localName} without Binding or Location`);
  return { binding, location: checkUrl(location) };
}

function index(element: Element): number {
  const raw = element.getAttribute('index') ?? '';
  if (!/^\d{1,5}$/.test(raw)) throw new SpMetadataRefused(`metadata: ${element.localName} index ${JSON.stringify(raw)} is not a number 0–65535`);
  const value = Number(raw);
  if (value > 65_535) throw new SpMetadataRefused(`metadata: ${element.localName} index ${value} is over 65535`);
  return value;
}

function bool(element: Element, name: string): boolean {
  const raw = element.getAttribute(name);
  if (raw === null || raw === '') return false;
  if (raw === 'true' || raw === '1') return true;
  if (raw === 'false' || raw === '0') return false;
  throw new SpMetadataRefused(`metadata: ${element.localName} ${name}=${JSON.stringify(raw)} is not a boolean`);
}

function checkUrl(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new SpMetadataRefused(`metadata: not a URL: ${JSON.stringify(value.slice(0, 200))}`);
  }
  const loopback = url.hostname === 'localhost' || url.hostname === '127.0.0.1' || url.hostname === '[::1]';
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && loopback)) throw new SpMetadataRefused(`metadata: ${value}: only https URLs (or http on loopback, for development)`);
  if (url.hash) throw new SpMetadataRefused(`metadata: ${value}: a URL with a fragment`);
  return value;
}

function checkCertificate(base64: string, entityId: string): string {
  try {
    const certificate = new X509Certificate(Buffer.from(base64, 'base64'));
    if (certificate.publicKey.asymmetricKeyType !== 'rsa') throw new SpMetadataRefused(`metadata: ${entityId} has a ${certificate.publicKey.asymmetricKeyType} key; only RSA keys are supported for XML signatures and encryption`);
    return certificate.raw.toString('base64');
  } catch (error) {
    if (error instanceof SpMetadataRefused) throw error;
    throw new SpMetadataRefused('metadata: a KeyDescriptor holds a certificate that does not parse');
  }
}

/**
 * A federation's aggregate (`md:EntitiesDescriptor`): its signature must
 * verify with the federation certificate the operator trusts; then each SP's
 * EntityDescriptor is taken from the signed bytes (not the document as
 * received), serialized on its own for the registry.
 */
export function spEntitiesOfAggregate(xml: string, trustedCertificatePem: string, now: Date): string[] {
  let doc;
  try {
    doc = parseStrict(xml, MAX_AGGREGATE_BYTES);
  } catch (error) {
    if (error instanceof XmlRefused) throw new SpMetadataRefused(`aggregate: ${error.message}`);
    throw error;
  }
  const root = doc.documentElement!;
  if (root.namespaceURI !== NS.md || root.localName !== 'EntitiesDescriptor') throw new SpMetadataRefused(`aggregate: expected md:EntitiesDescriptor, found ${root.localName}`);
  let signed: Element;
  try {
    signed = parseStrict(verifyEnvelopedRoot(doc, xml, [pemBody(trustedCertificatePem)]), MAX_AGGREGATE_BYTES).documentElement!;
  } catch (error) {
    if (error instanceof SignatureRefused || error instanceof XmlRefused) throw new SpMetadataRefused(`aggregate: signature: ${error.message}`);
    throw error;
  }
  const validUntil = signed.getAttribute('validUntil');
  if (validUntil && !(Date.parse(validUntil) > now.getTime())) throw new SpMetadataRefused(`aggregate: expired or unreadable validUntil ${JSON.stringify(validUntil)}`);
  const entities = (parent: Element): Element[] => [...children(parent, NS.md, 'EntityDescriptor'), ...children(parent, NS.md, 'EntitiesDescriptor').flatMap(entities)];
  return entities(signed)
    .filter((entity) => children(entity, NS.md, 'SPSSODescriptor').length > 0)
    .map((entity) => serialize(entity));
}

/** A federation aggregate may hold thousands of entities. */
export const MAX_AGGREGATE_BYTES = 64 << 20;
