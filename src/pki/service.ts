import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import type { Logger } from 'pino';
import type { Config } from '../config/index.ts';
import type { Database, Queryable } from '../store/index.ts';
import { nextCrlNumber, revokedEntries, writeCrl, type Crl } from './crl.ts';
import { CA_IDS, ensureHierarchy, keyPassphrase, type CaId, type LoadedCa } from './hierarchy.ts';
import { chainOf, issue, issueWithNewKey, readCsr, type IssuedCertificate, type IssuerContext, type SubjectRequest } from './issue.ts';
import { decryptPrivateKey, encryptPrivateKey, softwareSigner, type Signer } from './keys.ts';
import { createOcspResponder, type OcspResponderKey } from './ocsp.ts';
import { POLICY_SUFFIX, type ProfileName } from './profiles.ts';
import { caRevisions, certificateStatus, recordIssuanceHold, releaseHold, revokeCertificate, RevocationRefused, type CertificateStatus, type RevokeRequest } from './revoke.ts';

/** Renew a responder certificate this long before it expires. */
const RESPONDER_RENEW_MS = 14 * 86_400_000;

export interface PkiDependencies {
  readonly config: Config;
  readonly db: Database;
  readonly log: Logger;
  readonly now: () => Date;
}

/**
 * The PKI as the rest of the system uses it: opened once at start (creating
 * the hierarchy and the OCSP responders on first start), then issuing,
 * revoking, and publishing CRLs and OCSP answers.
 */
export async function openPki(deps: PkiDependencies) {
  const { config, db, log, now } = deps;
  const pkiConfig = config.pki;
  const plainBaseUrl = config.server.plainBaseUrl;
  const { passphrase, source } = await keyPassphrase(pkiConfig, config.dataDir);
  log.info({ passphrase: source }, 'CA keys: passphrase source');
  const cas = await ensureHierarchy(db, pkiConfig, plainBaseUrl, passphrase, now());
  const issuer: IssuerContext = { db, cas, plainBaseUrl, policyArc: pkiConfig.policyArc, now };
  const responderKeys = await ensureResponders(db, issuer, passphrase, now());
  const ocsp = createOcspResponder({ db, cas, keys: responderKeys, validityMinutes: pkiConfig.ocsp.validityMinutes, now, log });
  const crls = new Map<CaId, { crl: Crl; revision: number }>();
  const building = new Map<CaId, { revision: number; crl: Promise<Crl> }>();

  /** The CA's current CRL: made anew when a revocation changed the CA, or when the schedule says. */
  async function currentCrl(caId: CaId, revisions?: ReadonlyMap<string, number>): Promise<Crl> {
    const revision = (revisions ?? (await caRevisions(db))).get(caId) ?? 0;
    const cached = crls.get(caId);
    const republishAt = cached ? cached.crl.thisUpdate.getTime() + pkiConfig.crl.republishEveryMinutes * 60_000 : 0;
    if (cached && cached.revision >= revision && now().getTime() < republishAt) return cached.crl;
    const pending = building.get(caId);
    // A build that began before this revocation may miss it: wait for that one, then build again.
    if (pending && pending.revision < revision) return pending.crl.catch(() => undefined).then(() => currentCrl(caId));
    if (pending) return pending.crl;
    const crl = (async () => {
      const ca = cas.get(caId)!;
      const thisUpdate = new Date(Math.floor(now().getTime() / 1000) * 1000);
      const made = await writeCrl(ca, revokedEntries(db, caId), await nextCrlNumber(db, caId), thisUpdate, new Date(thisUpdate.getTime() + pkiConfig.crl.validityHours * 3_600_000));
      if ((crls.get(caId)?.revision ?? -1) <= revision) crls.set(caId, { crl: made, revision });
      log.info({ ca: caId, number: made.number, entries: made.entries, bytes: made.der.length }, 'CRL published');
      return made;
    })().finally(() => {
      if (building.get(caId)?.crl === crl) building.delete(caId);
    });
    building.set(caId, { revision, crl });
    return crl;
  }

  /** Publish the CA's new CRL right away rather than on the next fetch. */
  function publishSoon(caId: string): void {
    if ((CA_IDS as readonly string[]).includes(caId)) void currentCrl(caId as CaId).catch((error: unknown) => log.error({ err: error }, 'CRL publication failed'));
  }

  const policyLoa: Record<string, number> = {
    [`${pkiConfig.policyArc}.${POLICY_SUFFIX.personLoa3}`]: 3,
    [`${pkiConfig.policyArc}.${POLICY_SUFFIX.mobileLoa3}`]: 3,
    [`${pkiConfig.policyArc}.${POLICY_SUFFIX.personLoa2}`]: 2,
  };

  return {
    cas,
    policyArc: pkiConfig.policyArc,
    /** Certificate-policy OID → LoA, for relying parties (the authentication service). */
    policyLoa,
    ocsp,
    currentCrl,
    caCertificate(caId: CaId): LoadedCa | undefined {
      return cas.get(caId);
    },
    async issueFromCsr(profile: ProfileName, csrPem: string): Promise<IssuedCertificate> {
      const { publicKey, subject } = await readCsr(csrPem);
      return issue(issuer, profile, publicKey, subject);
    },
    /**
     * Issues for the key of a CSR (whose signature proves possession) under a
     * subject the caller vouches for; the CSR's own subject is ignored. `db`
     * lets the caller issue inside its own transaction.
     */
    async issueForCsrKey(profile: ProfileName, csrPem: string, subject: SubjectRequest, db: Queryable = deps.db): Promise<IssuedCertificate> {
      const { publicKey } = await readCsr(csrPem);
      return issue({ ...issuer, db }, profile, publicKey, subject);
    },
    /**
     * A card certificate: the key from the CSR (its signature proves the card
     * holds it), the subject from the directory, on hold (certificateHold,
     * whatever pki.allowCertificateHold says about requests) until the card is
     * handed out and activated.
     */
    async issueOnHold(profile: ProfileName, csrPem: string, subject: SubjectRequest, actor: string): Promise<IssuedCertificate> {
      const { publicKey } = await readCsr(csrPem);
      // One transaction, and the row is inserted already on hold: there is no moment, committed or not, in which it is good.
      const issued = await db.transaction(async (tx) => {
        const made = await issue({ ...issuer, db: tx }, profile, publicKey, subject, undefined, actor);
        await recordIssuanceHold(tx, made.serial, made.caId, actor, now());
        return made;
      });
      publishSoon(issued.caId);
      return issued;
    },
    /** Activation of a certificate issued on hold (`issueOnHold`): the hold is released and the certificate is good. */
    async releaseIssuanceHold(serial: string, actor: string): Promise<CertificateStatus> {
      const status = await releaseHold(db, serial, actor);
      publishSoon(status.caId);
      return status;
    },
    issueWithNewKey(profile: ProfileName, subject: SubjectRequest) {
      return issueWithNewKey(issuer, profile, subject);
    },
    /**
     * Publishes every CA's CRL that is due: its revision changed (a revocation
     * on any node) or its republish time came. The part runs this on a timer,
     * so CRLs are made ahead of relying parties' fetches.
     */
    async publishDueCrls(): Promise<void> {
      const revisions = await caRevisions(db);
      for (const caId of CA_IDS) await currentCrl(caId, revisions);
    },
    /**
     * `within`: the caller's transaction (the revocation commits with the caller's record of it). The CRL is then
     * not made at once, as the change is not yet committed; the revision it bumped makes the next check or fetch make it.
     */
    async revoke(request: RevokeRequest, within?: Queryable) {
      const result = await revokeCertificate(db, request, now(), pkiConfig.allowCertificateHold, within);
      if (result.changed && !within) publishSoon(result.status.caId);
      return result;
    },
    /** Releases a certificateHold: only where holds are enabled (`pki.allowCertificateHold`). */
    async releaseHold(serial: string, actor: string): Promise<CertificateStatus> {
      if (!pkiConfig.allowCertificateHold) throw new RevocationRefused('certificateHold is not enabled in this deployment (pki.allowCertificateHold), so there is no hold to release');
      const status = await releaseHold(db, serial, actor);
      publishSoon(status.caId);
      return status;
    },
    status(serial: string, within: Queryable = db): Promise<CertificateStatus | undefined> {
      return certificateStatus(within, serial);
    },
    /** The HTTPS server's own certificate from the function CA, for `hostNames`. */
    async serverTls(hostNames: readonly string[]): Promise<{ cert: string; key: string; chain: readonly string[] }> {
      const dnsNames = [...hostNames].filter((h) => !/^[\d.]+$|:/.test(h));
      const ipAddresses = [...hostNames].filter((h) => /^[\d.]+$|:/.test(h));
      const issued = await issueWithNewKey(issuer, 'server-tls', { commonName: dnsNames[0] ?? 'localhost', organization: pkiConfig.organisation, dnsNames, ipAddresses });
      return { cert: issued.certificatePem, key: issued.privateKeyPem, chain: issued.chainPem };
    },
    /** Status of one of our certificates as the authentication service needs it. */
    async revocationStatusOf(certificate: x509.X509Certificate): Promise<{ status: 'good' | 'revoked' | 'unknown'; evidence: unknown; reason?: string }> {
      const found = await certificateStatus(db, certificate.serialNumber);
      if (!found) return { status: 'unknown', evidence: { source: 'tillit-pki', serial: certificate.serialNumber.toLowerCase() } };
      const evidence = { source: 'tillit-pki', serial: found.serial, checkedAt: now().toISOString(), status: found.status };
      return found.status === 'good' ? { status: 'good', evidence } : { status: 'revoked', evidence, ...(found.reason ? { reason: found.reason } : {}) };
    },
    chainOf(caId: CaId): string[] {
      return chainOf(cas, cas.get(caId)!);
    },
  };
}

export type Pki = Awaited<ReturnType<typeof openPki>>;

/** Each CA's delegated OCSP responder: loaded, or issued (and renewed) with the ocsp-signer profile. */
async function ensureResponders(db: Database, issuer: IssuerContext, passphrase: string, now: Date): Promise<Map<CaId, OcspResponderKey>> {
  const keys = new Map<CaId, OcspResponderKey>();
  for (const [caId, ca] of issuer.cas) {
    const [row] = await db.query<{ certificate_der: Uint8Array; encrypted_key_pem: string; not_after: Date }>('select certificate_der, encrypted_key_pem, not_after from pki_ocsp_responders where ca_id = $1', [caId]);
    if (row && row.not_after.getTime() - RESPONDER_RENEW_MS > now.getTime()) {
      const pair = await decryptPrivateKey(row.encrypted_key_pem, passphrase, 'ecdsa-p256', `the OCSP responder of ${caId}`);
      keys.set(caId, { caId, certificateDer: row.certificate_der, signer: softwareSigner('ecdsa-p256', pair) });
      continue;
    }
    const issued = await issueWithNewKey(issuer, 'ocsp-signer', { commonName: `${ca.certificate.subjectName.getField('CN')[0] ?? caId} OCSP Responder`, organization: issuer.cas.get(caId)!.certificate.subjectName.getField('O')[0] ?? 'Tillit' }, 'ecdsa-p256', caId);
    const signer: Signer = softwareSigner('ecdsa-p256', issued.keyPair);
    const der = issued.der;
    await db.query(
      `insert into pki_ocsp_responders (ca_id, certificate_der, encrypted_key_pem, not_after) values ($1, $2, $3, $4)
       on conflict (ca_id) do update set certificate_der = excluded.certificate_der, encrypted_key_pem = excluded.encrypted_key_pem, not_after = excluded.not_after`,
      [caId, der, await encryptPrivateKey(issued.keyPair.privateKey, passphrase), issued.notAfter],
    );
    keys.set(caId, { caId, certificateDer: der, signer });
  }
  return keys;
}
