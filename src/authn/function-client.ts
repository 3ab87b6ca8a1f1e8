import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { checkEidCertificate, type EidTrust } from './eid-certificate.ts';

export type FunctionClientCheck = { readonly ok: true; readonly subject: string; readonly serialNumber: string } | { readonly ok: false; readonly reason: string };

const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';

/**
 * A system's function client certificate (TLS client authentication to the
 * IdP's token endpoint, RFC 8705 `tls_client_auth`): the same chain,
 * validity, key-usage, policy and revocation rules as an eID, against the
 * function CA and its policy, and it must be for client authentication.
 */
export async function checkFunctionClientCertificate(pem: string | undefined, trust: EidTrust, now: Date): Promise<FunctionClientCheck> {
  if (!pem) return { ok: false, reason: 'no client certificate was sent' };
  const checked = await checkEidCertificate(pem, 'auth', {}, trust, now);
  if (!checked.ok) return { ok: false, reason: checked.reason };
  const usages = checked.eid.certificate.getExtension(x509.ExtendedKeyUsageExtension)?.usages.map(String) ?? [];
  if (!usages.includes(CLIENT_AUTH)) return { ok: false, reason: 'the certificate is not for TLS client authentication' };
  return { ok: true, subject: checked.eid.certificate.subject, serialNumber: checked.eid.certificate.serialNumber.toLowerCase() };
}

/** A distinguished name in one canonical text form (as @peculiar/x509 prints it), or undefined when it does not parse. */
export function normaliseSubjectDn(dn: string): string | undefined {
  try {
    const name = new x509.Name(dn);
    return name.toJSON().length ? name.toString() : undefined;
  } catch {
    return undefined;
  }
}

/** Whether a certificate's subject is the distinguished name a client registered (RFC 4514 text, compared as parsed names). */
export function subjectDnMatches(certificatePem: string, registered: string): boolean {
  try {
    return new x509.X509Certificate(certificatePem).subjectName.toString() === new x509.Name(registered).toString();
  } catch {
    return false;
  }
}
