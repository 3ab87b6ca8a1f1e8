import 'reflect-metadata';
import { createPublicKey, KeyObject } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { isIP as isIpAddress } from 'node:net';
import { IdentifierError, parseHsaId, parsePersonnummer } from '../directory/index.ts';
import type { Queryable } from '../store/index.ts';
import type { KeyAlgorithmName } from './config.ts';
import { caUrls, type CaId, type LoadedCa } from './hierarchy.ts';
import { generateKeyPair, webCrypto } from './keys.ts';
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
const FIELD_SHORT: Record<SubjectField, string> = { commonName: 'CN', givenName: 'G', surname: 'SN', serialNumber: '2.5.4.5', organization: 'O', country: 'C' };
const MAX_PEM = 64 * 1024;
const DNS_NAME = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/;
const EMAIL = /^[^@\s]{1,64}@([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,}$/i;

/** Reads a PKCS#10 request, checks its signature, and returns what it asks for. */
export async function readCsr(pem: string): Promise<{ publicKey: x509.PublicKey; subject: SubjectRequest }> {
  if (typeof pem !== 'string' || pem.length > MAX_PEM) throw new IssuanceRefused('the CSR is larger than 64 KiB');
  let csr: x509.Pkcs10CertificateRequest;
  try {
    csr = new x509.Pkcs10CertificateRequest(pem.trim());
  } catch {
    throw new IssuanceRefused('the CSR cannot be read: expected a PEM or DER PKCS#10 certificate request');
  }
  // The key first: WebCrypto cannot even verify with a key we would refuse, and the reason should say so.
  checkKey(csr.publicKey.rawData);
  let signed = false;
  try {
    signed = await csr.verify(webCrypto);
  } catch {
    signed = false;
  }
  if (!signed) throw new IssuanceRefused('the CSR signature does not verify: it was not signed by the key it carries');
  const subject: Record<string, string | readonly string[]> = {};
  for (const rdn of csr.subjectName.toJSON()) {
    for (const [type, values] of Object.entries(rdn)) {
      const field = (Object.keys(FIELD_OID) as SubjectField[]).find((f) => FIELD_OID[f] === type || FIELD_SHORT[f] === type || (f === 'serialNumber' && type === 'serialNumber') || (f === 'surname' && type === 'SN'));
      if (!field) throw new IssuanceRefused(`the CSR subject has an attribute (${type}) that no profile allows`);
      if (subject[field] !== undefined || values.length !== 1) throw new IssuanceRefused(`the CSR subject names ${field} more than once`);
      subject[field] = values[0]!;
    }
  }
  const san = csr.extensions.find((e): e is x509.SubjectAlternativeNameExtension => e instanceof x509.SubjectAlternativeNameExtension);
  const dnsNames: string[] = [];
  const emails: string[] = [];
  const ipAddresses: string[] = [];
  for (const name of san?.names.items ?? []) {
    if (name.type === 'dns') dnsNames.push(name.value);
    else if (name.type === 'email') emails.push(name.value);
    else if (name.type === 'ip') ipAddresses.push(name.value);
    else throw new IssuanceRefused(`the CSR asks for a subjectAltName of type ${name.type}, which no profile allows`);
  }
  return { publicKey: csr.publicKey, subject: { ...subject, dnsNames, emails, ipAddresses } as SubjectRequest };
}

/** Checks the key against what the profiles allow: RSA 2048–4096, ECDSA P-256 or P-384. */
export function checkKey(spki: ArrayBuffer | Uint8Array): string {
  let key: KeyObject;
  try {
    key = createPublicKey({ key: Buffer.from(spki as Uint8Array), format: 'der', type: 'spki' });
  } catch {
    throw new IssuanceRefused('the public key cannot be read');
  }
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
  const dnsNames = (subject.dnsNames ?? []).map((d) => d.toLowerCase());
  const emails = [...(subject.emails ?? [])];
  const ipAddresses = [...(subject.ipAddresses ?? [])];
  checkSanKind(profile, 'dns', dnsNames.length, 'DNS names');
  checkSanKind(profile, 'email', emails.length, 'e-mail addresses');
  if (ipAddresses.length && profile.san.ip === 'forbidden') throw new IssuanceRefused(`profile ${profile.name} does not allow IP addresses`);
  for (const dns of dnsNames) if (!DNS_NAME.test(dns)) throw new IssuanceRefused(`${JSON.stringify(dns)} is not a DNS name this CA issues for (no wildcards, letters, digits and hyphens only)`);
  for (const email of emails) if (!EMAIL.test(email)) throw new IssuanceRefused(`${JSON.stringify(email)} is not an e-mail address`);
  for (const ip of ipAddresses) if (!isIpAddress(ip)) throw new IssuanceRefused(`${JSON.stringify(ip)} is not an IP address`);
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

/** Issues a certificate for `publicKey` under `profile` after every check, and records it. */
export async function issue(context: IssuerContext, profileName: ProfileName, publicKey: x509.PublicKey | CryptoKey, requested: SubjectRequest, caOverride?: CaId): Promise<IssuedCertificate> {
  const profile = PROFILES[profileName];
  const spki = publicKey instanceof x509.PublicKey ? publicKey.rawData : await webCrypto.subtle.exportKey('spki', publicKey);
  checkKey(spki);
  const subject = checkSubject(profile, requested);
  const ca = context.cas.get(caOverride ?? profile.ca);
  if (!ca) throw new IssuanceRefused(`CA ${caOverride ?? profile.ca} is not available`);
  const now = context.now();
  const notBefore = new Date(Math.floor(now.getTime() / 1000) * 1000 - 60_000);
  const notAfter = new Date(Math.min(notBefore.getTime() + profile.validityDays * 86_400_000, ca.certificate.notAfter.getTime()));
  const extensions = await profileExtensions(context, profile, ca, spki, subject);
  const name = subjectName(subject);
  for (let attempt = 0; ; attempt++) {
    const serial = randomSerial();
    const certificate = await x509.X509CertificateGenerator.create(
      { serialNumber: serial, subject: name, issuer: ca.certificate.subjectName, notBefore, notAfter, publicKey: spki, signingKey: ca.signer.cryptoKey, signingAlgorithm: ca.signer.params.sign, extensions },
      ca.signer.crypto,
    );
    const inserted = await context.db.query(
      `insert into pki_certificates (serial, ca_id, profile, subject, identifier, not_before, not_after, der) values ($1, $2, $3, $4, $5, $6, $7, $8) on conflict (serial) do nothing returning serial`,
      [serial, ca.id, profileName, certificate.subject, subject.serialNumber ?? null, notBefore, notAfter, new Uint8Array(certificate.rawData)],
    );
    // A 128-bit collision means a broken random source; never reuse a serial, and never loop for ever.
    if (inserted.length === 0) {
      if (attempt >= 2) throw new Error('serial numbers keep colliding: the random source is broken');
      continue;
    }
    return { serial, profile: profileName, caId: ca.id, certificate, certificatePem: certificate.toString('pem'), chainPem: chainOf(context.cas, ca) };
  }
}

/** Issues under a profile with a key made here, for test cards, the demo and the server's own TLS. */
export async function issueWithNewKey(context: IssuerContext, profileName: ProfileName, subject: SubjectRequest, algorithm: KeyAlgorithmName = 'ecdsa-p256', caOverride?: CaId): Promise<IssuedCertificate & { keyPair: CryptoKeyPair; privateKeyPem: string }> {
  const keyPair = await generateKeyPair(algorithm);
  const issued = await issue(context, profileName, keyPair.publicKey, subject, caOverride);
  const pkcs8 = await webCrypto.subtle.exportKey('pkcs8', keyPair.privateKey);
  return { ...issued, keyPair, privateKeyPem: x509.PemConverter.encode(pkcs8, 'PRIVATE KEY') };
}

export function chainOf(cas: ReadonlyMap<CaId, LoadedCa>, ca: LoadedCa): string[] {
  const chain: string[] = [];
  for (let current: LoadedCa | undefined = ca; current; current = current.parentId ? cas.get(current.parentId) : undefined) chain.push(current.certificate.toString('pem'));
  return chain;
}

function subjectName(subject: SubjectRequest): x509.JsonName {
  const name: x509.JsonName = [];
  if (subject.country) name.push({ C: [subject.country] });
  if (subject.organization) name.push({ O: [subject.organization] });
  if (subject.commonName) name.push({ CN: [subject.commonName] });
  if (subject.givenName) name.push({ [FIELD_OID.givenName]: [subject.givenName] });
  if (subject.surname) name.push({ [FIELD_OID.surname]: [subject.surname] });
  if (subject.serialNumber) name.push({ [FIELD_OID.serialNumber]: [subject.serialNumber] });
  return name;
}

const OCSP_NOCHECK = '1.3.6.1.5.5.7.48.1.5';

async function profileExtensions(context: IssuerContext, profile: Profile, ca: LoadedCa, spki: ArrayBuffer, subject: SubjectRequest): Promise<x509.Extension[]> {
  const publicKey = new x509.PublicKey(spki);
  const urls = caUrls(context.plainBaseUrl, ca.id);
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(profile.keyUsage, true),
    await x509.SubjectKeyIdentifierExtension.create(publicKey, false, webCrypto),
    await x509.AuthorityKeyIdentifierExtension.create(ca.certificate, false, webCrypto),
  ];
  if (profile.extendedKeyUsage.length) extensions.push(new x509.ExtendedKeyUsageExtension([...profile.extendedKeyUsage]));
  if (profile.policy) extensions.push(new x509.CertificatePolicyExtension([`${context.policyArc}.${POLICY_SUFFIX[profile.policy]}`]));
  if (profile.ocspNoCheck) {
    // The responder's own status is not checked (RFC 6960 §4.2.2.2.1): its extension value is NULL.
    extensions.push(new x509.Extension(OCSP_NOCHECK, false, Uint8Array.of(0x05, 0x00)));
  } else {
    extensions.push(new x509.CRLDistributionPointsExtension([urls.crl]));
    extensions.push(new x509.AuthorityInfoAccessExtension({ ocsp: [new x509.GeneralName('url', urls.ocsp)], caIssuers: [new x509.GeneralName('url', urls.caIssuers)] }));
  }
  const names: x509.JsonGeneralName[] = [
    ...(subject.dnsNames ?? []).map((value): x509.JsonGeneralName => ({ type: 'dns', value })),
    ...(subject.emails ?? []).map((value): x509.JsonGeneralName => ({ type: 'email', value })),
    ...(subject.ipAddresses ?? []).map((value): x509.JsonGeneralName => ({ type: 'ip', value })),
  ];
  if (names.length) extensions.push(new x509.SubjectAlternativeNameExtension(names));
  return extensions;
}
