import { createHash } from 'node:crypto';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import type { Logger } from 'pino';
import type { Queryable } from '../store/index.ts';
import { subjectNameOf } from './certificate-der.ts';
import { readOnly } from './der-reader.ts';
import type { CaId, LoadedCa } from './hierarchy.ts';
import type { Signer } from './keys.ts';
import { caRevisions, REVOCATION_REASONS, type RevocationReason } from './revoke.ts';

/** OCSPResponseStatus (RFC 6960 §4.2.1). */
export const OCSP_STATUS = { successful: 0, malformedRequest: 1, internalError: 2, tryLater: 3, sigRequired: 5, unauthorized: 6 } as const;

const NONCE_OID = '1.3.6.1.5.5.7.48.1.2';
const BASIC_OID = '1.3.6.1.5.5.7.48.1.1';
const SHA1_OID = '1.3.14.3.2.26';
const SHA256_OID = '2.16.840.1.101.3.4.2.1';
const MAX_CERTS_PER_REQUEST = 50;
const MAX_NONCE = 32;
const MAX_CACHE_ENTRIES = 200_000;
/** How stale another node's revocation may be in this node's cache. */
const REVISION_POLL_MS = 1_000;

export interface OcspResponderKey {
  readonly caId: CaId;
  readonly certificateDer: Uint8Array;
  readonly signer: Signer;
}

export interface OcspAnswer {
  readonly der: Uint8Array;
  readonly status: keyof typeof OCSP_STATUS;
  /** For caching by HTTP intermediaries (RFC 5019): set only on successful answers without a nonce. */
  readonly thisUpdate?: Date;
  readonly nextUpdate?: Date;
}

interface CaMatch {
  readonly ca: LoadedCa;
  readonly nameHash: Record<string, string>;
  readonly keyHash: Record<string, string>;
}

/** An answer with only a status (no body), as unsuccessful OCSP responses are. */
function statusOnly(status: keyof typeof OCSP_STATUS): OcspAnswer {
  return { der: Uint8Array.of(0x30, 0x03, 0x0a, 0x01, OCSP_STATUS[status]), status };
}

const hex = (bytes: ArrayBuffer | Uint8Array) => Buffer.from(bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes)).toString('hex');
const digest = (algorithm: 'sha1' | 'sha256', bytes: Uint8Array) => createHash(algorithm).update(bytes).digest('hex');
const wholeSeconds = (date: Date) => new Date(Math.floor(date.getTime() / 1000) * 1000);

/**
 * An OCSP responder (RFC 6960, with RFC 5019's GET profile) for every CA
 * here: one delegated responder certificate per CA signs its answers. Answers
 * without a nonce are made once and served from memory until shortly before
 * they expire or the CA's revision changes; a nonce gets a fresh signature.
 */
export function createOcspResponder(options: { db: Queryable; cas: ReadonlyMap<CaId, LoadedCa>; keys: ReadonlyMap<CaId, OcspResponderKey>; validityMinutes: number; now?: () => Date; log?: Pick<Logger, 'error'> }) {
  const now = options.now ?? (() => new Date());
  const matches: CaMatch[] = [...options.cas.values()].map((ca) => {
    const parsed = pkijs.Certificate.fromBER(new Uint8Array(ca.der));
    // The issuer name hash is over the name's bytes as the CA certificate has them.
    const name = subjectNameOf(new Uint8Array(ca.der));
    const key = parsed.subjectPublicKeyInfo.subjectPublicKey.valueBlock.valueHexView;
    return { ca, nameHash: { [SHA1_OID]: digest('sha1', name), [SHA256_OID]: digest('sha256', name) }, keyHash: { [SHA1_OID]: digest('sha1', key), [SHA256_OID]: digest('sha256', key) } };
  });
  const responderIds = new Map<CaId, { keyHash: Uint8Array; certificate: pkijs.Certificate }>();
  for (const [caId, key] of options.keys) {
    const certificate = pkijs.Certificate.fromBER(new Uint8Array(key.certificateDer));
    responderIds.set(caId, { keyHash: createHash('sha1').update(certificate.subjectPublicKeyInfo.subjectPublicKey.valueBlock.valueHexView).digest(), certificate });
  }
  const cache = new Map<string, { answer: OcspAnswer; refreshAt: number; caId: CaId; revision: number }>();
  let revisions = new Map<string, number>();
  let revisionsCheckedAt = 0;
  let revisionsLoading: Promise<void> | undefined;

  async function currentRevisions(): Promise<Map<string, number>> {
    if (Date.now() - revisionsCheckedAt > REVISION_POLL_MS) {
      revisionsLoading ??= caRevisions(options.db).then((next) => {
        revisions = next;
        revisionsCheckedAt = Date.now();
        revisionsLoading = undefined;
      });
      await revisionsLoading;
    }
    return revisions;
  }

  async function respond(requestDer: Uint8Array): Promise<OcspAnswer> {
    if (requestDer.length === 0 || requestDer.length > 16_384) return statusOnly('malformedRequest');
    const key = hex(requestDer);
    const cached = cache.get(key);
    if (cached && cached.refreshAt > now().getTime() && ((await currentRevisions()).get(cached.caId) ?? 0) === cached.revision) return cached.answer;
    let request: pkijs.OCSPRequest;
    try {
      // One DER SEQUENCE and nothing after it: the ASN.1 library would read BER and ignore trailing bytes.
      readOnly(requestDer, 0x30);
      request = pkijs.OCSPRequest.fromBER(new Uint8Array(requestDer));
    } catch {
      return statusOnly('malformedRequest');
    }
    const list = request.tbsRequest.requestList;
    if (list.length === 0 || list.length > MAX_CERTS_PER_REQUEST) return statusOnly('malformedRequest');
    const nonce = request.tbsRequest.requestExtensions?.find((e) => e.extnID === NONCE_OID);
    if (nonce && nonce.extnValue.valueBlock.valueHexView.length > MAX_NONCE + 4) return statusOnly('malformedRequest');
    const cas = list.map((r) => matchCa(r.reqCert));
    const caId = cas[0];
    // One responder signs one answer, so every certificate asked about must be from the same CA.
    if (!caId || cas.some((c) => c !== caId)) return statusOnly('unauthorized');
    const responder = options.keys.get(caId);
    const responderId = responderIds.get(caId);
    if (!responder || !responderId) return statusOnly('unauthorized');
    const revision = (await currentRevisions()).get(caId) ?? 0;
    const serials = list.map((r) => hex(r.reqCert.serialNumber.valueBlock.valueHexView).replace(/^(00)+(?=[0-9a-f])/, ''));
    const rows = await options.db.query<{ serial: string; revoked_at: Date | null; revocation_reason: RevocationReason | null }>(
      'select serial, revoked_at, revocation_reason from pki_certificates where ca_id = $1 and serial = any($2::text[])',
      [caId, serials],
    );
    const known = new Map(rows.map((r) => [r.serial, r]));
    const thisUpdate = wholeSeconds(now());
    const nextUpdate = new Date(thisUpdate.getTime() + options.validityMinutes * 60_000);
    const basic = new pkijs.BasicOCSPResponse();
    basic.tbsResponseData.responderID = new asn1js.OctetString({ valueHex: responderId.keyHash });
    basic.tbsResponseData.producedAt = thisUpdate;
    basic.tbsResponseData.responses = list.map((r, i) => {
      const row = known.get(serials[i]!);
      return new pkijs.SingleResponse({ certID: r.reqCert, certStatus: certStatus(row), thisUpdate, nextUpdate });
    });
    if (nonce) basic.tbsResponseData.responseExtensions = [new pkijs.Extension({ extnID: NONCE_OID, extnValue: new Uint8Array(nonce.extnValue.valueBlock.valueHexView).buffer })];
    const tbs = new Uint8Array(basic.tbsResponseData.toSchema(true).toBER());
    // pkijs writes the response from these exact bytes, so what is signed is what is sent.
    basic.tbsResponseData.tbsView = tbs;
    basic.signatureAlgorithm = pkijs.AlgorithmIdentifier.fromBER(new Uint8Array(responder.signer.params.algorithmIdentifier));
    basic.signature = new asn1js.BitString({ valueHex: await responder.signer.sign(tbs) });
    basic.certs = [responderId.certificate];
    const response = new pkijs.OCSPResponse({
      responseStatus: new asn1js.Enumerated({ value: OCSP_STATUS.successful }),
      responseBytes: new pkijs.ResponseBytes({ responseType: BASIC_OID, response: new asn1js.OctetString({ valueHex: basic.toSchema().toBER() }) }),
    });
    const answer: OcspAnswer = { der: new Uint8Array(response.toSchema().toBER()), status: 'successful', ...(nonce ? {} : { thisUpdate, nextUpdate }) };
    if (!nonce) {
      if (cache.size >= MAX_CACHE_ENTRIES) cache.clear();
      // Refresh at 90% of the validity, so a relying party never receives an answer about to expire.
      cache.set(key, { answer, refreshAt: thisUpdate.getTime() + options.validityMinutes * 60_000 * 0.9, caId, revision });
    }
    return answer;
  }

  function matchCa(certId: pkijs.CertID): CaId | undefined {
    const algorithm = certId.hashAlgorithm.algorithmId;
    const nameHash = hex(certId.issuerNameHash.valueBlock.valueHexView);
    const keyHash = hex(certId.issuerKeyHash.valueBlock.valueHexView);
    return matches.find((m) => m.nameHash[algorithm] === nameHash && m.keyHash[algorithm] === keyHash)?.ca.id;
  }

  return {
    /** Answers one DER OCSP request; never throws for bad input. */
    async respond(requestDer: Uint8Array): Promise<OcspAnswer> {
      try {
        return await respond(requestDer);
      } catch (error) {
        options.log?.error({ err: error }, 'OCSP answer failed');
        return statusOnly('internalError');
      }
    },
  };
}

export type OcspResponder = ReturnType<typeof createOcspResponder>;

function certStatus(row: { revoked_at: Date | null; revocation_reason: RevocationReason | null } | undefined): asn1js.BaseBlock {
  if (!row) return new asn1js.Primitive({ idBlock: { tagClass: 3, tagNumber: 2 } });
  if (!row.revoked_at) return new asn1js.Primitive({ idBlock: { tagClass: 3, tagNumber: 0 } });
  const value: asn1js.BaseBlock[] = [new asn1js.GeneralizedTime({ valueDate: wholeSeconds(row.revoked_at) })];
  if (row.revocation_reason && row.revocation_reason !== 'unspecified') {
    value.push(new asn1js.Constructed({ idBlock: { tagClass: 3, tagNumber: 0 }, value: [new asn1js.Enumerated({ value: REVOCATION_REASONS[row.revocation_reason] })] }));
  }
  return new asn1js.Constructed({ idBlock: { tagClass: 3, tagNumber: 1 }, value });
}
