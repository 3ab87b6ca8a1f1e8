import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { checkEidCertificate, type EidTrust } from './eid-certificate.ts';
import type { Requirements } from './orders.ts';
import type { KnownPerson } from './verify-answer.ts';

/** What the person chose, as a page can show it. */
export interface CertificateSummary {
  readonly subject: string;
  readonly issuer: string;
  readonly serialNumber: string;
  readonly notBefore: string;
  readonly notAfter: string;
  /** The subject serialNumber: a personnummer or an HSA-id (or whatever a foreign certificate holds). */
  readonly identifier: string | null;
  readonly identifierKind: 'personnummer' | 'hsaId' | 'other' | 'none';
  /** From key usage: digitalSignature is for logging in, nonRepudiation alone for signing. */
  readonly use: 'authentication' | 'signature' | 'other';
}

/**
 * Why a card login was refused, as advice: each names what the person
 * chose and what to choose instead (the commonest support call).
 */
export type CardRefusalCode =
  | 'noCertificate'
  | 'unreadable'
  | 'signatureCertificate'
  | 'personnummerCertificate'
  | 'otherPerson'
  | 'foreignCa'
  | 'expired'
  | 'notYetValid'
  | 'revoked'
  | 'revocationUnknown'
  | 'lowAssurance'
  | 'notAnEid';

export interface CardLogin {
  readonly user: KnownPerson & { readonly personalIdentityNumber?: string; readonly hsaId?: string };
  /** Whether the directory knows the person behind the certificate. */
  readonly knownInDirectory: boolean;
  readonly certificatePem: string;
  readonly certificate: CertificateSummary;
  readonly loa: number;
  readonly revocationEvidence: unknown;
}

export type CardOutcome =
  | { readonly ok: true; readonly login: CardLogin }
  | { readonly ok: false; readonly code: CardRefusalCode; readonly reason: string; readonly certificate: CertificateSummary | null };

export interface CardCheckOptions {
  readonly trust: EidTrust;
  readonly resolvePerson: (identifier: string) => Promise<KnownPerson | undefined>;
}

const PERSONNUMMER = /^\d{12}$/;
const HSA_ID = /^[A-Z]{2}\d{10}-[0-9A-Za-z]+$/;

/**
 * The card's certificate from the TLS handshake (which proved the key), put
 * through every eID rule for login, then mapped to a person in the
 * directory. A refusal says which rule, in terms of what to choose instead.
 */
export async function checkCardCertificate(pem: string | undefined, requirements: Requirements, options: CardCheckOptions, now: Date): Promise<CardOutcome> {
  if (!pem) return { ok: false, code: 'noCertificate', reason: 'the browser sent no certificate', certificate: null };
  let certificate: x509.X509Certificate;
  try {
    certificate = new x509.X509Certificate(pem);
  } catch {
    return { ok: false, code: 'unreadable', reason: 'the certificate cannot be read', certificate: null };
  }
  const summary = summarize(certificate);
  // A personnummer asked for is compared with the person the card maps to: their HSA-id card names them too.
  const { personalIdentityNumber: wantedPerson, ...certificateRequirements } = requirements;
  const checked = await checkEidCertificate(pem, 'auth', certificateRequirements, options.trust, now);
  if (!checked.ok) return { ok: false, code: refusalCode(checked.code, summary, requirements, certificate, now), reason: checked.reason, certificate: summary };
  const { eid } = checked;
  const known = await options.resolvePerson(eid.identifier);
  const fromCertificate = PERSONNUMMER.test(eid.identifier) ? { personalIdentityNumber: eid.identifier } : { hsaId: eid.identifier };
  const personnummer = known?.personalIdentityNumber ?? fromCertificate.personalIdentityNumber;
  if (wantedPerson && personnummer !== wantedPerson) return { ok: false, code: 'otherPerson', reason: 'the eID belongs to another person than the one asked for', certificate: summary };
  const givenName = known?.givenName ?? eid.givenName;
  const surname = known?.surname ?? eid.surname;
  const name = known?.name ?? eid.commonName;
  return {
    ok: true,
    login: {
      user: { ...fromCertificate, ...known, ...(givenName ? { givenName } : {}), ...(surname ? { surname } : {}), ...(name ? { name } : {}) },
      knownInDirectory: known !== undefined,
      certificatePem: pem,
      certificate: summary,
      loa: eid.loa,
      revocationEvidence: eid.revocationEvidence,
    },
  };
}

function refusalCode(code: string, summary: CertificateSummary, requirements: Requirements, certificate: x509.X509Certificate, now: Date): CardRefusalCode {
  switch (code) {
    case 'untrustedIssuer':
      return 'foreignCa';
    case 'notValidNow':
      return certificate.notAfter.getTime() < now.getTime() ? 'expired' : 'notYetValid';
    case 'keyUsage':
      return summary.use === 'signature' ? 'signatureCertificate' : 'notAnEid';
    case 'revoked':
      return 'revoked';
    case 'revocationUnknown':
      return 'revocationUnknown';
    case 'requirement':
      if (requirements.hsaId && summary.identifierKind === 'personnummer') return 'personnummerCertificate';
      if (requirements.hsaId && requirements.hsaId !== summary.identifier) return 'otherPerson';
      return 'lowAssurance';
    case 'unreadable':
      return 'unreadable';
    default:
      return 'notAnEid';
  }
}

export function summarize(certificate: x509.X509Certificate): CertificateSummary {
  const identifier = certificate.subjectName.getField('2.5.4.5')[0] ?? null;
  const usages = certificate.getExtension(x509.KeyUsagesExtension)?.usages ?? 0;
  const use = usages & x509.KeyUsageFlags.digitalSignature ? 'authentication' : usages & x509.KeyUsageFlags.nonRepudiation ? 'signature' : 'other';
  return {
    // The library knows serialNumber only by its OID; people read the name.
    subject: certificate.subject.replace(/(^|, )2\.5\.4\.5=/g, '$1serialNumber='),
    issuer: certificate.issuer.replace(/(^|, )2\.5\.4\.5=/g, '$1serialNumber='),
    serialNumber: certificate.serialNumber.toLowerCase(),
    notBefore: certificate.notBefore.toISOString(),
    notAfter: certificate.notAfter.toISOString(),
    identifier,
    identifierKind: identifier === null ? 'none' : PERSONNUMMER.test(identifier) ? 'personnummer' : HSA_ID.test(identifier) ? 'hsaId' : 'other',
    use,
  };
}
