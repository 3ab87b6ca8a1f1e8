import type { Part, PartFactory } from '../server/index.ts';
import { pkiHttpRoutes } from './http.ts';
import { openPki, type Pki } from './service.ts';

/** How often the running PKI checks whether a CRL is due (a revocation elsewhere, or the schedule). */
const CRL_CHECK_MS = 5_000;

/**
 * The PKI: the CA hierarchy, certificate profiles, issuance, revocation, and
 * the CRLs, CA certificates and OCSP answers every relying party fetches.
 */
export const createPkiPart: PartFactory = async (context): Promise<Part> => {
  const pki = await openPki(context);
  // CRLs are made ahead of fetches: every few seconds each CA's is checked, and
  // made anew when a revocation (on any node) changed it or its schedule is due.
  let publishing: Promise<void> | undefined;
  const timer = setInterval(() => {
    publishing ??= pki
      .publishDueCrls()
      .catch((error: unknown) => context.log.error({ err: error }, 'scheduled CRL publication failed'))
      .finally(() => (publishing = undefined));
  }, CRL_CHECK_MS);
  timer.unref();
  return {
    name: 'pki',
    title: { sv: 'PKI', en: 'PKI' },
    description: {
      sv: 'Utfärdande CA:er för person-, mobil- och funktionscertifikat; spärrlistor (CRL) och OCSP över HTTP.',
      en: 'Issuing CAs for person, mobile and function certificates; revocation lists (CRL) and OCSP over HTTP.',
    },
    links: [],
    http: pkiHttpRoutes(pki),
    provides: pki,
    async stop() {
      clearInterval(timer);
      await publishing;
    },
  };
};

export { openPki, type Pki, type PkiDependencies } from './service.ts';

/** The running PKI, for parts started after it; the PKI part must be among them. */
export function pkiFrom(started: ReadonlyMap<string, Part>): Pki {
  const part = started.get('pki');
  if (!part) throw new Error('the pki part must run (and start before) the parts that use it');
  return part.provides as Pki;
}
export { pkiConfigSchema, type PkiConfig, KEY_ALGORITHMS, type KeyAlgorithmName } from './config.ts';
export { CA_IDS, isCaId, PkiSetupError, type CaId, type LoadedCa } from './hierarchy.ts';
export { KeyDecryptionError } from './keys.ts';
export { PROFILES, PROFILE_NAMES, POLICY_SUFFIX, isProfileName, type Profile, type ProfileName } from './profiles.ts';
export { IssuanceRefused, readCsr, type IssuedCertificate, type SubjectRequest } from './issue.ts';
export { RevocationRefused, REVOCATION_REASONS, isRevocationReason, type RevocationReason, type CertificateStatus } from './revoke.ts';
export { OCSP_STATUS } from './ocsp.ts';
export { importCa, caImportFromPkcs12, CaImportRefused, type CaImport } from './import-ca.ts';
export { exportPkcs12, readPkcs12, Pkcs12Error, type Pkcs12Contents } from './pkcs12.ts';
export { registerPkiCommands } from './cli.ts';
export { eidCertificatesInForce, eidCertificatesIssued, isInForce, eidIssueSettledBefore, EID_CA_IDS, type EidCertificate, type IssuedEidCertificate, type IssuePosition } from './certificates.ts';
