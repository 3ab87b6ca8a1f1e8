import { createHash, X509Certificate } from 'node:crypto';
import type { Logger } from 'pino';
import type { Queryable } from '../store/index.ts';
import { extension, subjectNameOf } from './certificate-der.ts';
import { concat, derBitString, derEnumerated, derExplicit, derGeneralizedTime, derOctetString, derSequence, derTlv } from './der.ts';
import { childrenOf, DerError, expectTag, oidText, readOnly, type Tlv } from './der-reader.ts';
import type { CaId, LoadedCa } from './hierarchy.ts';
import { encodeOid, type Signer } from './keys.ts';
import { caRevisions, REVOCATION_REASONS, type RevocationReason } from './revoke.ts';

/** OCSPResponseStatus (RFC 6960 §4.2.1). */
export const OCSP_STATUS = { successful: 0, malformedRequest: 1, internalError: 2, tryLater: 3, sigRequired: 5, unauthorized: 6 } as const;

const NONCE_OID = '1.3.6.1.5.5.7.48.1.2';
const INVALIDITY_DATE_OID = '2.5.29.24';
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
    // The issuer name hash is over the name's bytes as the CA certificate has them.
    const name = subjectNameOf(new Uint8Array(ca.der));
    const key = subjectPublicKeyBits(new Uint8Array(ca.certificate.publicKey.rawData));
    return { ca, nameHash: { [SHA1_OID]: digest('sha1', name), [SHA256_OID]: digest('sha256', name) }, keyHash: { [SHA1_OID]: digest('sha1', key), [SHA256_OID]: digest('sha256', key) } };
  });
  /** Per CA: ResponderID byKey [2] { KeyHash } and certs [0] { SEQUENCE { responder certificate } }, as DER. */
  const responderParts = new Map<CaId, { responderId: Uint8Array; certs: Uint8Array }>();
  for (const [caId, key] of options.keys) {
    const spki = new Uint8Array(new X509Certificate(key.certificateDer).publicKey.export({ type: 'spki', format: 'der' }));
    const keyHash = createHash('sha1').update(subjectPublicKeyBits(spki)).digest();
    responderParts.set(caId, { responderId: derExplicit(2, derOctetString(keyHash)), certs: derExplicit(0, derSequence([new Uint8Array(key.certificateDer)])) });
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
    let request: OcspRequest;
    try {
      request = readOcspRequest(requestDer);
    } catch (error) {
      if (error instanceof DerError) return statusOnly('malformedRequest');
      throw error;
    }
    const list = request.certIds;
    if (list.length === 0 || list.length > MAX_CERTS_PER_REQUEST) return statusOnly('malformedRequest');
    const nonce = request.nonce;
    if (nonce && (nonce.length === 0 || nonce.length > MAX_NONCE + 4)) return statusOnly('malformedRequest');
    const cas = list.map(matchCa);
    const caId = cas[0];
    // One responder signs one answer, so every certificate asked about must be from the same CA.
    if (!caId || cas.some((c) => c !== caId)) return statusOnly('unauthorized');
    const responder = options.keys.get(caId);
    const parts = responderParts.get(caId);
    if (!responder || !parts) return statusOnly('unauthorized');
    const revision = (await currentRevisions()).get(caId) ?? 0;
    const serials = list.map((c) => c.serial);
    const rows = await options.db.query<StatusRow>(
      'select serial, revoked_at, revocation_reason, invalidity_date from pki_certificates where ca_id = $1 and serial = any($2::text[])',
      [caId, serials],
      // Every answer asks it: PostgreSQL plans it once per connection.
      { prepare: true },
    );
    const known = new Map(rows.map((r) => [r.serial, r]));
    const thisUpdate = wholeSeconds(now());
    const nextUpdate = new Date(thisUpdate.getTime() + options.validityMinutes * 60_000);
    const produced = derGeneralizedTime(thisUpdate);
    const next = derExplicit(0, derGeneralizedTime(nextUpdate));
    // SingleResponse: the CertID exactly as asked (so the client matches it), status, thisUpdate, nextUpdate, and a recorded invalidity date.
    const responses = list.map((certId, i) => {
      const row = known.get(serials[i]!);
      return derSequence([certId.raw, certStatus(row), produced, next, ...singleExtensions(row)]);
    });
    const responseData = derSequence([
      parts.responderId,
      produced,
      derSequence(responses),
      ...(nonce ? [derExplicit(1, derSequence([derSequence([NONCE_OID_DER, derOctetString(nonce)])]))] : []),
    ]);
    const algorithm = responder.signer.params.algorithmIdentifier;
    const basic = derSequence([responseData, algorithm, derBitString(await responder.signer.sign(responseData)), parts.certs]);
    const der = derSequence([SUCCESSFUL, derExplicit(0, derSequence([BASIC_OID_DER, derOctetString(basic)]))]);
    const answer: OcspAnswer = { der, status: 'successful', ...(nonce ? {} : { thisUpdate, nextUpdate }) };
    if (!nonce) {
      if (cache.size >= MAX_CACHE_ENTRIES) cache.clear();
      // Refresh at 90% of the validity, so a relying party never receives an answer about to expire.
      cache.set(key, { answer, refreshAt: thisUpdate.getTime() + options.validityMinutes * 60_000 * 0.9, caId, revision });
    }
    return answer;
  }

  function matchCa(certId: CertId): CaId | undefined {
    return matches.find((m) => m.nameHash[certId.algorithm] === certId.nameHash && m.keyHash[certId.algorithm] === certId.keyHash)?.ca.id;
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

const SUCCESSFUL = derEnumerated(OCSP_STATUS.successful);
const BASIC_OID_DER = encodeOid(BASIC_OID);
const NONCE_OID_DER = encodeOid(NONCE_OID);

interface StatusRow {
  readonly serial: string;
  readonly revoked_at: Date | null;
  readonly revocation_reason: RevocationReason | null;
  readonly invalidity_date: Date | null;
}

/** CertStatus: good [0] and unknown [2] are empty; revoked [1] carries the time and, when it says something, the reason. */
function certStatus(row: StatusRow | undefined): Uint8Array {
  if (!row) return Uint8Array.of(0x82, 0x00);
  if (!row.revoked_at) return Uint8Array.of(0x80, 0x00);
  const reason = row.revocation_reason && row.revocation_reason !== 'unspecified' ? derExplicit(0, derEnumerated(REVOCATION_REASONS[row.revocation_reason])) : new Uint8Array();
  return derTlv(0xa1, concat([derGeneralizedTime(wholeSeconds(row.revoked_at)), reason]));
}

/**
 * singleExtensions [1]: a revoked certificate's invalidityDate (RFC 5280
 * §5.3.2, the CRL entry extension RFC 6960 §4.4.7 allows here), when one was
 * recorded: the time it was reported or the key is believed compromised,
 * which may be earlier than the revocation time (a report logged after an outage).
 */
function singleExtensions(row: StatusRow | undefined): Uint8Array[] {
  if (!row?.revoked_at || !row.invalidity_date) return [];
  return [derExplicit(1, derSequence([extension(INVALIDITY_DATE_OID, false, derGeneralizedTime(wholeSeconds(row.invalidity_date)))]))];
}

interface CertId {
  /** The CertID's DER, echoed in the answer. */
  readonly raw: Uint8Array;
  readonly algorithm: string;
  readonly nameHash: string;
  readonly keyHash: string;
  /** Lower-case hex without leading zero octets, as serials are stored. */
  readonly serial: string;
}

interface OcspRequest {
  readonly certIds: readonly CertId[];
  /** The nonce extension's extnValue content, echoed as it came. */
  readonly nonce?: Uint8Array;
}

/**
 * Reads an OCSPRequest (RFC 6960 §4.1.1): one DER SEQUENCE, nothing after it.
 * The requestor name and an optional signature are allowed and not used.
 */
function readOcspRequest(der: Uint8Array): OcspRequest {
  const [tbsRequest, signature, extra] = childrenOf(readOnly(der, 0x30));
  if (extra || (signature && signature.tag !== 0xa0)) throw new DerError('unexpected element after tbsRequest');
  const parts = childrenOf(expectTag(tbsRequest, 0x30));
  let at = 0;
  if (parts[at]?.tag === 0xa0) at++;
  if (parts[at]?.tag === 0xa1) at++;
  const certIds = childrenOf(expectTag(parts[at++], 0x30)).map(readRequest);
  let nonce: Uint8Array | undefined;
  if (parts[at]?.tag === 0xa2) {
    const [extensions, more] = childrenOf(parts[at++]!);
    if (more) throw new DerError('malformed requestExtensions');
    for (const extension of childrenOf(expectTag(extensions, 0x30))) {
      const fields = childrenOf(expectTag(extension, 0x30));
      if (oidText(expectTag(fields[0], 0x06).content) === NONCE_OID) nonce = expectTag(fields.at(-1), 0x04).content;
    }
  }
  if (at !== parts.length) throw new DerError('unexpected element in tbsRequest');
  return { certIds, ...(nonce ? { nonce } : {}) };
}

function readRequest(request: Tlv): CertId {
  const [certId, extensions, extra] = childrenOf(expectTag(request, 0x30));
  if (extra || (extensions && extensions.tag !== 0xa0)) throw new DerError('malformed Request');
  const [algorithm, nameHash, keyHash, serial, more] = childrenOf(expectTag(certId, 0x30));
  if (more) throw new DerError('malformed CertID');
  const serialBytes = expectTag(serial, 0x02).content;
  if (serialBytes.length === 0) throw new DerError('empty serial number');
  return {
    raw: certId!.raw,
    algorithm: oidText(expectTag(childrenOf(expectTag(algorithm, 0x30))[0], 0x06).content),
    nameHash: hex(expectTag(nameHash, 0x04).content),
    keyHash: hex(expectTag(keyHash, 0x04).content),
    serial: hex(serialBytes).replace(/^(00)+(?=[0-9a-f])/, ''),
  };
}

/** The subjectPublicKey bits of an SPKI (what issuerKeyHash and the responder's KeyHash are over). */
function subjectPublicKeyBits(spki: Uint8Array): Uint8Array {
  return expectTag(childrenOf(readOnly(spki, 0x30))[1], 0x03).content.subarray(1);
}
