import 'reflect-metadata';
import { createPublicKey, KeyObject } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { isIP as isIpAddress } from 'node:net';
import { IdentifierError, parseHsaId, parsePersonnummer } from '../directory/index.ts';
import type { Queryable } from '../store/index.ts';
import type { KeyAlgorithmName } from './config.ts';
import { encodeCertificate, encodeName, encodeTbsCertificate, extension, keyIdentifier, namedBits, subjectKeyIdentifierOf, subjectNameOf, derUri, type NameAttribute } from './certificate-der.ts';
import { csrDer, CsrError, readCertificateRequest, type CertificateRequest } from './csr.ts';
import { derExplicit, derOctetString, derSequence, derTlv } from './der.ts';
import { caUrls, type CaId, type LoadedCa } from './hierarchy.ts';
import { encodeOid, generateKeyPair, webCrypto } from './keys.ts';
import { POLICY_SUFFIX, PROFILES, type Profile, type ProfileName, type SubjectField } from './profiles.ts';
import { randomSerial } from './serial.ts';

/** A request refused for a reason the requester can act on; nothing was stored. */
export class IssuanceRefused extends Error {
  override readonly name = 'IssuanceRefused';
}

export interface SubjectRequest {
  readonly commonName?: string;
  readonly givenName?: string;
  readonly surname?: string;
  readonly serialNumber?: string;
  readonly organization?: string;
  readonly country?: string;
  readonly dnsNames?: readonly string[];
  readonly emails?: readonly string[];
  readonly ipAddresses?: readonly string[];
}

export interface IssuedCertificate {
  readonly serial: string;
  readonly profile: ProfileName;
  readonly caId: CaId;
  readonly der: Uint8Array;
  /** The subject as stored and shown. */
  readonly subject: string;
  readonly notAfter: Date;
  readonly certificate: x509.X509Certificate;
  readonly certificatePem: string;
  /** The issuing chain, issuer first, root last. */
  readonly chainPem: readonly string[];
}

export interface IssuerContext {
  readonly db: Queryable;
  readonly cas: ReadonlyMap<CaId, LoadedCa>;
  readonly plainBaseUrl: string;
  readonly policyArc: string;
  readonly now: () => Date;
}

const FIELD_OID: Record<SubjectField, string> = {
  commonName: '2.5.4.3',
  givenName: '2.5.4.42',
  surname: '2.5.4.4',
  serialNumber: '2.5.4.5',
  organization: '2.5.4.10',
  country: '2.5.4.6',
};
const FIELD_BY_OID = new Map(Object.entries(FIELD_OID).map(([field, oid]) => [oid, field as SubjectField]));
/** Short names in subject text and refusals, as @peculiar/x509 and OpenSSL print them. */
const TEXT_NAME: Record<string, string> = { '2.5.4.3': 'CN', '2.5.4.42': 'G', '2.5.4.4': 'SN', '2.5.4.10': 'O', '2.5.4.6': 'C' };
const ATTRIBUTE_NAMES: Record<string, string> = { ...TEXT_NAME, '2.5.4.11': 'OU', '2.5.4.7': 'L', '2.5.4.8': 'ST', '2.5.4.12': 'T', '1.2.840.113549.1.9.1': 'E', '0.9.2342.19200300.100.1.25': 'DC' };
const MAX_PEM = 64 * 1024;
const DNS_NAME = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/;
const EMAIL = /^[^@\s]{1,64}@([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,}$/i;

/** Reads a PKCS#10 request, checks its signature, and returns what it asks for: the key and the subject. */
export async function readCsr(pem: string): Promise<{ publicKey: KeyObject; subject: SubjectRequest }> {
  if (typeof pem !== 'string' || pem.length > MAX_PEM) throw new IssuanceRefused('the CSR is larger than 64 KiB');
  let request: CertificateRequest;
  try {
    // The key first: the reason should say a key is refused, not that its signature cannot be checked.
    request = readCertificateRequest(csrDer(pem), checkKeyObject);
  } catch (error) {
    if (error instanceof CsrError) throw new IssuanceRefused(error.message);
    throw error;
  }
  const subject: Record<string, string | readonly string[]> = {};
  for (const { type, value } of request.subject) {
    const field = FIELD_BY_OID.get(type);
    if (!field) throw new IssuanceRefused(`the CSR subject has an attribute (${ATTRIBUTE_NAMES[type] ?? type}) that no profile allows`);
    if (subject[field] !== undefined) throw new IssuanceRefused(`the CSR subject names ${field} more than once`);
    subject[field] = value;
  }
  const dnsNames: string[] = [];
  const emails: string[] = [];
  const ipAddresses: string[] = [];
  for (const name of request.san) {
    if (name.kind === 'dns') dnsNames.push(name.value);
    else if (name.kind === 'email') emails.push(name.value);
    else if (name.kind === 'ip') ipAddresses.push(name.value);
    else throw new IssuanceRefused(`the CSR asks for a subjectAltName of type ${name.value}, which no profile allows`);
  }
  return { publicKey: request.key, subject: { ...subject, dnsNames, emails, ipAddresses } as SubjectRequest };
}

/** Checks the key against what the profiles allow: RSA 2048–4096, ECDSA P-256 or P-384. */
export function checkKey(spki: ArrayBuffer | Uint8Array): string {
  let key: KeyObject;
  try {
    key = createPublicKey({ key: Buffer.from(spki as Uint8Array), format: 'der', type: 'spki' });
  } catch {
    throw new IssuanceRefused('the public key cannot be read');
  }
  return checkKeyObject(key);
}

function checkKeyObject(key: KeyObject): string {
  const details = key.asymmetricKeyDetails ?? {};
  if (key.asymmetricKeyType === 'rsa') {
    const bits = details.modulusLength ?? 0;
    if (bits < 2048 || bits > 4096) throw new IssuanceRefused(`an RSA key of ${bits} bits is not allowed: use 2048 to 4096 bits`);
    return `RSA ${bits}`;
  }
  if (key.asymmetricKeyType === 'ec') {
    if (details.namedCurve !== 'prime256v1' && details.namedCurve !== 'secp384r1') throw new IssuanceRefused(`an EC key on ${details.namedCurve} is not allowed: use P-256 or P-384`);
    return `ECDSA ${details.namedCurve === 'prime256v1' ? 'P-256' : 'P-384'}`;
  }
  throw new IssuanceRefused(`a ${key.asymmetricKeyType} key is not allowed: use RSA or ECDSA`);
}

/** Applies the profile's subject and subjectAltName rules; the first rule broken is the reason given. */
export function checkSubject(profile: Profile, subject: SubjectRequest): SubjectRequest {
  const allowed = new Set<SubjectField>([...profile.requiredSubject, ...profile.optionalSubject]);
  for (const field of Object.keys(FIELD_OID) as SubjectField[]) {
    const value = subject[field];
    if (value === undefined || value === '') {
      if (profile.requiredSubject.includes(field)) throw new IssuanceRefused(`profile ${profile.name} needs ${field} in the subject`);
      continue;
    }
    if (!allowed.has(field)) throw new IssuanceRefused(`profile ${profile.name} does not allow ${field} in the subject`);
    if (typeof value !== 'string' || value.length > 64 || /[\u0000-\u001f]/.test(value)) throw new IssuanceRefused(`${field} must be text of at most 64 characters`);
  }
  if (subject.country !== undefined && !/^[A-Z]{2}$/.test(subject.country)) throw new IssuanceRefused('country must be two capital letters');
  checkIdentifier(profile, subject.serialNumber);
  for (const list of ['dnsNames', 'emails', 'ipAddresses'] as const) {
    const names: unknown = subject[list];
    if (names !== undefined && !(Array.isArray(names) && names.every((n) => typeof n === 'string'))) throw new IssuanceRefused(`${list} must be a list of text`);
  }
  const dnsNames = (subject.dnsNames ?? []).map((d) => d.toLowerCase());
  const emails = [...(subject.emails ?? [])];
  const ipAddresses = [...(subject.ipAddresses ?? [])];
  checkSanKind(profile, 'dns', dnsNames.length, 'DNS names');
  checkSanKind(profile, 'email', emails.length, 'e-mail addresses');
  if (ipAddresses.length && profile.san.ip === 'forbidden') throw new IssuanceRefused(`profile ${profile.name} does not allow IP addresses`);
  for (const dns of dnsNames) if (!DNS_NAME.test(dns)) throw new IssuanceRefused(`${JSON.stringify(dns)} is not a DNS name this CA issues for (no wildcards, letters, digits and hyphens only)`);
  for (const email of emails) if (!EMAIL.test(email)) throw new IssuanceRefused(`${JSON.stringify(email)} is not an e-mail address`);
  for (const ip of ipAddresses) if (!isIpAddress(ip) || ip.includes('%')) throw new IssuanceRefused(`${JSON.stringify(ip)} is not an IP address`);
  if (dnsNames.length + emails.length + ipAddresses.length > 100) throw new IssuanceRefused('at most 100 subjectAltNames');
  return { ...subject, dnsNames, emails, ipAddresses };
}

function checkSanKind(profile: Profile, kind: 'dns' | 'email', count: number, what: string): void {
  const rule = profile.san[kind];
  if (rule === 'required' && count === 0) throw new IssuanceRefused(`profile ${profile.name} needs at least one of ${what}`);
  if (rule === 'forbidden' && count > 0) throw new IssuanceRefused(`profile ${profile.name} does not allow ${what}`);
}

function checkIdentifier(profile: Profile, serialNumber: string | undefined): void {
  if (profile.identifier === 'none' || profile.identifier === 'any' || serialNumber === undefined) return;
  try {
    if (profile.identifier === 'personnummer') parsePersonnummer(serialNumber);
    else parseHsaId(serialNumber);
  } catch (error) {
    if (error instanceof IdentifierError) throw new IssuanceRefused(`serialNumber: ${error.message}`);
    throw error;
  }
}

/**
 * Issues a certificate for `publicKey` (SPKI DER, a Node or a WebCrypto key) under `profile` after every check, and records it.
 * `heldBy`: the certificate is recorded on hold (certificateHold) in the very row that records it, so no reader ever sees it
 * good; the caller runs this in a transaction with the hold's event (`recordIssuanceHold`).
 */
export async function issue(context: IssuerContext, profileName: ProfileName, publicKey: Uint8Array | KeyObject | CryptoKey, requested: SubjectRequest, caOverride?: CaId, heldBy?: string): Promise<IssuedCertificate> {
  const profile = PROFILES[profileName];
  let key: KeyObject;
  try {
    key = publicKey instanceof KeyObject ? publicKey : publicKey instanceof Uint8Array ? createPublicKey({ key: Buffer.from(publicKey), format: 'der', type: 'spki' }) : KeyObject.from(publicKey);
  } catch {
    throw new IssuanceRefused('the public key cannot be read');
  }
  checkKeyObject(key);
  // Canonical DER of the key, whatever form it came in.
  const spki = new Uint8Array(key.export({ type: 'spki', format: 'der' }));
  const subject = checkSubject(profile, requested);
  const ca = context.cas.get(caOverride ?? profile.ca);
  if (!ca) throw new IssuanceRefused(`CA ${caOverride ?? profile.ca} is not available`);
  const now = context.now();
  const notBefore = new Date(Math.floor(now.getTime() / 1000) * 1000 - 60_000);
  const notAfter = new Date(Math.min(notBefore.getTime() + profile.validityDays * 86_400_000, ca.certificate.notAfter.getTime()));
  const issuer = issuerParts(context, ca);
  const extensions = [...profileParts(context, profile).head, extension('2.5.29.14', false, derOctetString(keyIdentifier(spki))), issuer.authorityKeyIdentifier, ...profileParts(context, profile).tail];
  if (!profile.ocspNoCheck) extensions.push(issuer.crlDistributionPoints, issuer.authorityInformationAccess);
  const san = subjectAltNames(subject);
  if (san) extensions.push(san);
  const name = subjectAttributes(subject);
  const subjectDer = encodeName(name);
  const subjectText = nameText(name);
  for (let attempt = 0; ; attempt++) {
    const serial = randomSerial();
    const tbs = encodeTbsCertificate({ serial, signatureAlgorithm: ca.signer.params.algorithmIdentifier, issuer: issuer.name, notBefore, notAfter, subject: subjectDer, spki, extensions });
    const der = encodeCertificate(tbs, ca.signer.params.algorithmIdentifier, await ca.signer.sign(tbs));
    const held = heldBy !== undefined;
    const inserted = await context.db.query(
      `insert into pki_certificates (serial, ca_id, profile, subject, identifier, not_before, not_after, der, revoked_at, revocation_reason, on_hold)
       values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) on conflict (serial) do nothing returning serial`,
      [serial, ca.id, profileName, subjectText, subject.serialNumber ?? null, notBefore, notAfter, der, held ? new Date(Math.floor(now.getTime() / 1000) * 1000) : null, held ? 'certificateHold' : null, held],
    );
    // A 128-bit collision means a broken random source; never reuse a serial, and never loop for ever.
    if (inserted.length === 0) {
      if (attempt >= 2) throw new Error('serial numbers keep colliding: the random source is broken');
      continue;
    }
    let parsed: x509.X509Certificate | undefined;
    return {
      serial,
      profile: profileName,
      caId: ca.id,
      der,
      subject: subjectText,
      notAfter,
      // Parsed only when a caller asks: most callers want the PEM.
      get certificate() {
        return (parsed ??= new x509.X509Certificate(der as Uint8Array<ArrayBuffer>));
      },
      certificatePem: x509.PemConverter.encode(der as Uint8Array<ArrayBuffer>, 'CERTIFICATE'),
      chainPem: chainOf(context.cas, ca),
    };
  }
}

/** Issues under a profile with a key made here, for test cards, the demo and the server's own TLS. */
export async function issueWithNewKey(context: IssuerContext, profileName: ProfileName, subject: SubjectRequest, algorithm: KeyAlgorithmName = 'ecdsa-p256', caOverride?: CaId): Promise<IssuedCertificate & { keyPair: CryptoKeyPair; privateKeyPem: string }> {
  const keyPair = await generateKeyPair(algorithm);
  const issued = await issue(context, profileName, keyPair.publicKey, subject, caOverride);
  const pkcs8 = await webCrypto.subtle.exportKey('pkcs8', keyPair.privateKey);
  return Object.defineProperties({ keyPair, privateKeyPem: x509.PemConverter.encode(pkcs8, 'PRIVATE KEY') }, Object.getOwnPropertyDescriptors(issued)) as IssuedCertificate & { keyPair: CryptoKeyPair; privateKeyPem: string };
}

const chains = new WeakMap<LoadedCa, readonly string[]>();

export function chainOf(cas: ReadonlyMap<CaId, LoadedCa>, ca: LoadedCa): string[] {
  let chain = chains.get(ca);
  if (!chain) {
    const pems: string[] = [];
    for (let current: LoadedCa | undefined = ca; current; current = current.parentId ? cas.get(current.parentId) : undefined) pems.push(current.certificate.toString('pem'));
    chains.set(ca, (chain = pems));
  }
  return [...chain];
}

/** Subject attributes in the order every profile writes them. */
function subjectAttributes(subject: SubjectRequest): NameAttribute[] {
  const order: SubjectField[] = ['country', 'organization', 'commonName', 'givenName', 'surname', 'serialNumber'];
  return order.filter((field) => subject[field]).map((field) => ({ oid: FIELD_OID[field], value: subject[field]! }));
}

/** The subject as text, in the form @peculiar/x509 gives it (stored with the certificate and shown by `tillit pki status`). */
function nameText(attributes: readonly NameAttribute[]): string {
  return attributes
    .map(({ oid, value }) => {
      const escaped = value
        .replace(/([,+"\\<>;])/g, '\\$1')
        .replace(/^([ #])/, '\\$1')
        .replace(/([ ]$)/, '\\$1');
      return `${TEXT_NAME[oid] ?? oid}=${escaped}`;
    })
    .join(', ');
}

const OCSP_NOCHECK = '1.3.6.1.5.5.7.48.1.5';
const NULL = Uint8Array.of(0x05, 0x00);

/** What every certificate of a CA carries about its issuer, made once per CA. */
interface IssuerParts {
  readonly plainBaseUrl: string;
  readonly name: Uint8Array;
  readonly authorityKeyIdentifier: Uint8Array;
  readonly crlDistributionPoints: Uint8Array;
  readonly authorityInformationAccess: Uint8Array;
}
const issuerCache = new WeakMap<LoadedCa, IssuerParts>();

function issuerParts(context: IssuerContext, ca: LoadedCa): IssuerParts {
  const cached = issuerCache.get(ca);
  if (cached && cached.plainBaseUrl === context.plainBaseUrl) return cached;
  const caDer = new Uint8Array(ca.der);
  const urls = caUrls(context.plainBaseUrl, ca.id);
  // The issuer's own key identifier where it states one, so that chain building matches AKI to SKI even for an imported CA.
  const keyId = subjectKeyIdentifierOf(caDer) ?? keyIdentifier(new Uint8Array(ca.certificate.publicKey.rawData));
  const parts: IssuerParts = {
    plainBaseUrl: context.plainBaseUrl,
    name: subjectNameOf(caDer),
    authorityKeyIdentifier: extension('2.5.29.35', false, derSequence([derTlv(0x80, keyId)])),
    // DistributionPoint { distributionPoint [0] { fullName [0] { URI } } }
    crlDistributionPoints: extension('2.5.29.31', false, derSequence([derSequence([derExplicit(0, derExplicit(0, derUri(urls.crl)))])])),
    authorityInformationAccess: extension(
      '1.3.6.1.5.5.7.1.1',
      false,
      derSequence([derSequence([encodeOid('1.3.6.1.5.5.7.48.1'), derUri(urls.ocsp)]), derSequence([encodeOid('1.3.6.1.5.5.7.48.2'), derUri(urls.caIssuers)])]),
    ),
  };
  issuerCache.set(ca, parts);
  return parts;
}

/** What a profile fixes, as encoded extensions: before the key identifiers (basic constraints, key usage) and after (EKU, policy, OCSP no-check). */
const profileCache = new Map<string, { head: Uint8Array[]; tail: Uint8Array[] }>();

function profileParts(context: IssuerContext, profile: Profile): { head: Uint8Array[]; tail: Uint8Array[] } {
  const key = `${profile.name} ${context.policyArc}`;
  let parts = profileCache.get(key);
  if (!parts) {
    // basicConstraints cA FALSE is the DER default: an empty SEQUENCE.
    const head = [extension('2.5.29.19', true, derSequence([])), extension('2.5.29.15', true, namedBits(profile.keyUsage))];
    const tail: Uint8Array[] = [];
    if (profile.extendedKeyUsage.length) tail.push(extension('2.5.29.37', false, derSequence(profile.extendedKeyUsage.map(encodeOid))));
    if (profile.policy) tail.push(extension('2.5.29.32', false, derSequence([derSequence([encodeOid(`${context.policyArc}.${POLICY_SUFFIX[profile.policy]}`)])])));
    // The responder's own status is not checked (RFC 6960 §4.2.2.2.1): its extension value is NULL.
    if (profile.ocspNoCheck) tail.push(extension(OCSP_NOCHECK, false, NULL));
    profileCache.set(key, (parts = { head, tail }));
  }
  return parts;
}

function subjectAltNames(subject: SubjectRequest): Uint8Array | undefined {
  const names = [
    ...(subject.dnsNames ?? []).map((dns) => derTlv(0x82, Buffer.from(dns, 'ascii'))),
    ...(subject.emails ?? []).map((email) => derTlv(0x81, Buffer.from(email, 'ascii'))),
    ...(subject.ipAddresses ?? []).map((ip) => derTlv(0x87, ipAddressBytes(ip))),
  ];
  return names.length ? extension('2.5.29.17', false, derSequence(names)) : undefined;
}

/** An IPv4 or IPv6 address (already checked by `isIP`, no zone) as the 4 or 16 bytes iPAddress carries. */
function ipAddressBytes(ip: string): Uint8Array {
  if (isIpAddress(ip) === 4) return Uint8Array.from(ip.split('.').map(Number));
  let text = ip;
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (v4) {
    const [a, b, c, d] = v4.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, v4.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.split('::') as [string, string | undefined];
  const front = head ? head.split(':') : [];
  const back = tail ? tail.split(':') : [];
  const groups = tail === undefined ? front : [...front, ...Array<string>(8 - front.length - back.length).fill('0'), ...back];
  const bytes = new Uint8Array(16);
  groups.forEach((group, i) => {
    const value = parseInt(group, 16);
    bytes[2 * i] = value >> 8;
    bytes[2 * i + 1] = value & 0xff;
  });
  return bytes;
}
