import { verify, X509Certificate } from 'node:crypto';
import { checkEidCertificate, type EidTrust } from './eid-certificate.ts';
import type { AnswerVerifier, Completion } from './orders.ts';

/** The person behind an identifier (personnummer or HSA-id), as the directory knows them. */
export interface KnownPerson {
  readonly personalIdentityNumber?: string;
  readonly hsaId?: string;
  readonly givenName?: string;
  readonly surname?: string;
  readonly name?: string;
}

export interface AnswerVerifierOptions {
  readonly trust: EidTrust;
  /** Looks the certificate's identifier up in the directory; undefined when unknown there. */
  readonly resolvePerson: (identifier: string) => Promise<KnownPerson | undefined>;
  readonly now?: () => Date;
}

const PERSONNUMMER = /^\d{12}$/;

/**
 * The real check of an app's answer: the signature over the challenge must
 * verify with the key of the certificate presented, and the certificate must
 * pass every eID rule. The person is then looked up in the directory; one
 * the directory does not know is still identified by the certificate.
 */
export function createAnswerVerifier(options: AnswerVerifierOptions): AnswerVerifier {
  const now = options.now ?? (() => new Date());
  return async ({ challenge, answer, requirements, kind }) => {
    let publicKey;
    try {
      publicKey = new X509Certificate(answer.certificatePem).publicKey;
    } catch {
      return { ok: false, hint: 'certificateErr', reason: 'the certificate cannot be read' };
    }
    let signed = false;
    try {
      signed = verify('sha256', challenge, publicKey, Buffer.from(answer.signature, 'base64'));
    } catch {
      signed = false;
    }
    if (!signed) return { ok: false, hint: 'certificateErr', reason: 'the signature was not made by the key of the certificate presented' };
    const checked = await checkEidCertificate(answer.certificatePem, kind, requirements, options.trust, now());
    if (!checked.ok) return { ok: false, hint: 'certificateErr', reason: checked.reason };
    const { eid } = checked;
    const known = await options.resolvePerson(eid.identifier);
    const fromCertificate = PERSONNUMMER.test(eid.identifier) ? { personalIdentityNumber: eid.identifier } : { hsaId: eid.identifier };
    const name = known?.name ?? eid.commonName;
    const givenName = known?.givenName ?? eid.givenName;
    const surname = known?.surname ?? eid.surname;
    const completion: Completion = {
      user: { ...fromCertificate, ...known, ...(givenName ? { givenName } : {}), ...(surname ? { surname } : {}), ...(name ? { name } : {}) },
      certificatePem: answer.certificatePem,
      signature: answer.signature,
      loa: eid.loa,
      revocationEvidence: eid.revocationEvidence,
    };
    return { ok: true, completion };
  };
}
