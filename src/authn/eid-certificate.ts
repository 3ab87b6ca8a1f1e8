import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import type { OrderKind, Requirements } from './orders.ts';
import { certificatePolicyOids } from './policies.ts';

const SERIAL_NUMBER_OID = '2.5.4.5';
const GIVEN_NAME_OID = '2.5.4.42';
const SURNAME_OID = '2.5.4.4';
const COMMON_NAME_OID = '2.5.4.3';
const MAX_CHAIN = 5;

export type RevocationStatus =
  | { readonly status: 'good'; readonly evidence: unknown }
  | { readonly status: 'revoked'; readonly evidence: unknown; readonly revokedAt?: Date; readonly reason?: string }
  | { readonly status: 'unknown'; readonly evidence: unknown };

export interface EidTrust {
  /** PEM certificates of the CAs that issue eIDs, and the roots above them (self-signed). */
  readonly anchors: readonly string[];
  /** Certificate-policy OID → level of assurance. An eID with none of them is refused. */
  readonly policyLoa: Readonly<Record<string, number>>;
  /** Revocation status of `certificate` from its issuer (the PKI for our CAs, OCSP/CRL for others). */
  revocationStatus(certificate: x509.X509Certificate, issuer: x509.X509Certificate): Promise<RevocationStatus>;
}

export interface CheckedEid {
  readonly certificate: x509.X509Certificate;
  /** The identifier in the subject serialNumber: a personnummer or an HSA-id. */
  readonly identifier: string;
  readonly givenName?: string;
  readonly surname?: string;
  readonly commonName?: string;
  readonly loa: number;
  readonly policies: readonly string[];
  readonly issuer: string;
  readonly revocationEvidence: unknown;
}

/** Which rule refused the eID, for callers that guide the person (the card login's wrong-certificate advice). */
export type EidRefusalCode = 'unreadable' | 'untrustedIssuer' | 'notValidNow' | 'notAnEid' | 'keyUsage' | 'policy' | 'revoked' | 'revocationUnknown' | 'requirement';

export type EidCheck = { readonly ok: true; readonly eid: CheckedEid } | { readonly ok: false; readonly reason: string; readonly code: EidRefusalCode };

const crypto = webcrypto as unknown as Crypto;

/**
 * Checks a presented eID certificate the way a relying party must, each step
 * one rule, failing closed: it parses, chains by signature to a configured
 * anchor (every CA valid and allowed to sign certificates), is within its
 * validity, has the key usage the order needs, carries a policy we map to a
 * level of assurance, is not revoked (unknown counts as refused), and meets
 * the caller's requirements.
 */
export async function checkEidCertificate(pem: string, kind: OrderKind, requirements: Requirements, trust: EidTrust, now: Date): Promise<EidCheck> {
  let certificate: x509.X509Certificate;
  try {
    certificate = new x509.X509Certificate(pem);
  } catch {
    return refuse('the certificate cannot be read', 'unreadable');
  }
  const chain = await buildChain(certificate, anchorsOf(trust), now);
  if (!chain.ok) return refuse(chain.reason, chain.code);
  const issuer = chain.issuer;
  if (!withinValidity(certificate, now)) return refuse(`the certificate is not valid now (valid ${certificate.notBefore.toISOString()} to ${certificate.notAfter.toISOString()})`, 'notValidNow');
  if (certificate.getExtension(x509.BasicConstraintsExtension)?.ca) return refuse('a CA certificate is not an eID', 'notAnEid');
  const usage = checkKeyUsage(certificate, kind);
  if (usage) return refuse(usage, 'keyUsage');
  const policiesExtension = certificate.getExtension('2.5.29.32');
  let policies: string[] = [];
  try {
    policies = policiesExtension ? certificatePolicyOids(new Uint8Array(policiesExtension.value)) : [];
  } catch {
    return refuse('the certificate policies cannot be read', 'policy');
  }
  const levels = policies.map((p) => trust.policyLoa[p]).filter((l): l is number => l !== undefined);
  if (levels.length === 0) return refuse('the certificate carries no policy of an eID we accept', 'policy');
  const loa = Math.max(...levels);
  const identifier = nameValue(certificate, SERIAL_NUMBER_OID);
  if (!identifier) return refuse('the certificate names no identifier (subject serialNumber)', 'notAnEid');
  const revocation = await trust.revocationStatus(certificate, issuer);
  if (revocation.status === 'revoked') return refuse(`the certificate is revoked${revocation.reason ? ` (${revocation.reason})` : ''}`, 'revoked');
  if (revocation.status !== 'good') return refuse('the revocation status of the certificate cannot be established', 'revocationUnknown');
  const unmet = unmetRequirement(requirements, identifier, policies, loa);
  if (unmet) return refuse(unmet, 'requirement');
  const givenName = nameValue(certificate, GIVEN_NAME_OID);
  const surname = nameValue(certificate, SURNAME_OID);
  const commonName = nameValue(certificate, COMMON_NAME_OID);
  return {
    ok: true,
    eid: {
      certificate,
      identifier,
      ...(givenName ? { givenName } : {}),
      ...(surname ? { surname } : {}),
      ...(commonName ? { commonName } : {}),
      loa,
      policies,
      issuer: certificate.issuer,
      revocationEvidence: revocation.evidence,
    },
  };
}

function refuse(reason: string, code: EidRefusalCode): EidCheck {
  return { ok: false, reason, code };
}

function withinValidity(certificate: x509.X509Certificate, now: Date): boolean {
  return certificate.notBefore.getTime() <= now.getTime() && now.getTime() <= certificate.notAfter.getTime();
}

// Anchors are configuration: parsed once per list, and a signature between two of them verified once.
const parsedAnchors = new WeakMap<readonly string[], x509.X509Certificate[]>();
const anchorSignatures = new WeakMap<x509.X509Certificate, Map<x509.X509Certificate, Promise<boolean>>>();

function anchorsOf(trust: EidTrust): x509.X509Certificate[] {
  let anchors = parsedAnchors.get(trust.anchors);
  if (!anchors) {
    anchors = trust.anchors.map((a) => new x509.X509Certificate(a));
    parsedAnchors.set(trust.anchors, anchors);
    for (const anchor of anchors) anchorSignatures.set(anchor, new Map());
  }
  return anchors;
}

/** Whether `certificate` is signed by `issuer`'s key; remembered when both are anchors. */
function signedBy(certificate: x509.X509Certificate, issuer: x509.X509Certificate): Promise<boolean> {
  const known = anchorSignatures.get(certificate);
  const verifying = () => certificate.verify({ publicKey: issuer.publicKey, signatureOnly: true }, crypto);
  if (!known || !anchorSignatures.has(issuer)) return verifying();
  let result = known.get(issuer);
  if (!result) {
    result = verifying();
    known.set(issuer, result);
  }
  return result;
}

/** Walks issuer by issuer to a self-signed anchor, verifying every signature; returns the leaf's issuer. */
async function buildChain(leaf: x509.X509Certificate, anchors: x509.X509Certificate[], now: Date): Promise<{ ok: true; issuer: x509.X509Certificate } | { ok: false; reason: string; code: EidRefusalCode }> {
  let current = leaf;
  let leafIssuer: x509.X509Certificate | undefined;
  for (let depth = 0; depth < MAX_CHAIN; depth++) {
    const issuer = await findIssuer(current, anchors);
    if (!issuer) return { ok: false, code: 'untrustedIssuer', reason: depth === 0 ? 'the certificate is not issued by a CA we trust' : `the CA ${current.subject} does not chain to a trusted root` };
    if (!withinValidity(issuer, now)) return { ok: false, code: 'untrustedIssuer', reason: `the issuing CA ${issuer.subject} is not valid now` };
    const constraints = issuer.getExtension(x509.BasicConstraintsExtension);
    const keyUsage = issuer.getExtension(x509.KeyUsagesExtension);
    if (!constraints?.ca || (keyUsage && !(keyUsage.usages & x509.KeyUsageFlags.keyCertSign))) return { ok: false, code: 'untrustedIssuer', reason: `${issuer.subject} is not a CA` };
    leafIssuer ??= issuer;
    if (issuer.subject === issuer.issuer && (await signedBy(issuer, issuer))) return { ok: true, issuer: leafIssuer };
    current = issuer;
  }
  return { ok: false, code: 'untrustedIssuer', reason: 'the certificate chain is too long' };
}

async function findIssuer(certificate: x509.X509Certificate, anchors: x509.X509Certificate[]): Promise<x509.X509Certificate | undefined> {
  for (const candidate of anchors) {
    if (candidate.subject !== certificate.issuer) continue;
    if (await signedBy(certificate, candidate)) return candidate;
  }
  return undefined;
}

/** Login needs digitalSignature; signing accepts nonRepudiation (a signature certificate) or digitalSignature. */
function checkKeyUsage(certificate: x509.X509Certificate, kind: OrderKind): string | undefined {
  const usages = certificate.getExtension(x509.KeyUsagesExtension)?.usages ?? 0;
  const has = (flag: x509.KeyUsageFlags) => (usages & flag) !== 0;
  if (kind === 'auth' && !has(x509.KeyUsageFlags.digitalSignature)) return 'the certificate is not for authentication (no digitalSignature key usage): choose the authentication certificate';
  if (kind === 'sign' && !has(x509.KeyUsageFlags.nonRepudiation) && !has(x509.KeyUsageFlags.digitalSignature)) return 'the certificate may not sign';
  return undefined;
}

function unmetRequirement(requirements: Requirements, identifier: string, policies: readonly string[], loa: number): string | undefined {
  if (requirements.personalIdentityNumber && requirements.personalIdentityNumber !== identifier) return 'the eID belongs to another person than the one asked for';
  if (requirements.hsaId && requirements.hsaId !== identifier) return 'the eID names another HSA-id than the one asked for';
  if (requirements.certificatePolicies?.length && !requirements.certificatePolicies.some((p) => policies.includes(p))) return 'the eID is not of a kind the service accepts (certificate policy)';
  if (requirements.minimumLoa && loa < requirements.minimumLoa) return `the eID has assurance level ${loa}; the service requires ${requirements.minimumLoa}`;
  return undefined;
}

function nameValue(certificate: x509.X509Certificate, oid: string): string | undefined {
  return certificate.subjectName.getField(oid)[0];
}
