import { createHash, randomBytes } from 'node:crypto';
import { findPersonByServiceIdentity, isPersonnummer, loginAttributes, serviceIdentityPlaces, type PersonView } from '../directory/index.ts';
import { IssuanceRefused, type Pki } from '../pki/index.ts';
import type { Database, Queryable } from '../store/index.ts';

/** A person may hold at most this many active (not revoked, not expired) mobile eIDs, as SITHS allows. */
export const MAX_ACTIVE_MOBILE_EIDS = 3;
/** An enrolment code is valid for at most 15 minutes (SITHS: the QR code in self-service). */
export const ENROLMENT_CODE_MINUTES = 15;
/** The prefix of the QR content an enrolment code is shown as. */
export const ENROLMENT_QR_PREFIX = 'tillit-enrol.';

// Crockford's base 32: no I, L, O or U, so a code read aloud or typed from paper survives.
const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const CODE_LENGTH = 16;
const OPERATOR = { mayViewProtectedIdentities: true };

export type EnrolmentErrorCode = 'invalidParameters' | 'unknownPerson' | 'unknownCode' | 'expiredCode' | 'usedCode' | 'tooManyEids' | 'csrRefused';

/** A refusal the person (or operator) can act on; nothing was changed. */
export class EnrolmentError extends Error {
  override readonly name = 'EnrolmentError';
  readonly code: EnrolmentErrorCode;
  constructor(code: EnrolmentErrorCode, message: string) {
    super(message);
    this.code = code;
  }
}

export interface EnrolmentCode {
  /** What the person types: 16 characters in groups of four. */
  readonly code: string;
  /** What the QR code shows. */
  readonly qr: string;
  readonly personnummer: string;
  readonly expiresAt: Date;
}

export interface EnrolledMobileEid {
  readonly serial: string;
  readonly personnummer: string;
  readonly certificatePem: string;
  /** Issuing chain, issuer first, root last. */
  readonly chainPem: readonly string[];
  readonly notAfter: Date;
}

export interface MobileEidRecord {
  readonly serial: string;
  readonly enrolledAt: Date;
  readonly notAfter: Date;
  readonly deviceLabel: string | null;
  readonly status: 'active' | 'revoked' | 'expired';
}

export interface EnrolmentDependencies {
  readonly db: Database;
  readonly pki: Pki;
  readonly now: () => Date;
  /** Validity of a code; at most (and by default) 15 minutes. */
  readonly codeTtlMinutes?: number;
}

/**
 * Mobile eID enrolment. A code is handed to a person (self-service, or an
 * operator); the app redeems it once with a CSR for a key it made, and gets
 * a certificate from the mobile CA naming the person.
 *
 * Codes live in PostgreSQL, not the short-lived store: redeeming one must be
 * atomic with the count of the person's active eIDs, the issuance and the
 * record of who enrolled what — one transaction, so a refused or failed
 * enrolment leaves the code unused and nothing issued, on any number of
 * nodes. The audit trail (who asked for a code for whom, when, and which
 * certificate it became) has to be durable anyway. Only a hash is stored.
 */
export function createEnrolmentService(deps: EnrolmentDependencies) {
  const { db, pki, now } = deps;
  const ttlMs = Math.min(deps.codeTtlMinutes ?? ENROLMENT_CODE_MINUTES, ENROLMENT_CODE_MINUTES) * 60_000;

  async function activeSerials(tx: Queryable, personnummer: string, at: Date): Promise<string[]> {
    const rows = await tx.query<{ serial: string }>('select serial from authn_mobile_eids where personnummer = $1 and not_after > $2', [personnummer, at]);
    const active: string[] = [];
    for (const { serial } of rows) if ((await pki.status(serial, tx))?.status === 'good') active.push(serial);
    return active;
  }

  const tooMany = (count: number) =>
    new EnrolmentError('tooManyEids', `the person already has ${count} active mobile eIDs, the most allowed (${MAX_ACTIVE_MOBILE_EIDS}); revoke one before enrolling another`);

  return {
    /**
     * A one-time code for `person` (personnummer or HSA-id), valid 15 minutes.
     * `requestedBy` names who asked (an operator, or the person in self-service), for the record.
     */
    async createCode(person: string, requestedBy: string): Promise<EnrolmentCode> {
      if (typeof requestedBy !== 'string' || !requestedBy.trim()) throw new EnrolmentError('invalidParameters', 'say who asks for the enrolment code');
      const found = await findHolder(db, person);
      const at = now();
      const active = await activeSerials(db, found.personnummer, at);
      if (active.length >= MAX_ACTIVE_MOBILE_EIDS) throw tooMany(active.length);
      const code = newCode();
      const expiresAt = new Date(at.getTime() + ttlMs);
      await db.query('insert into authn_enrolment_codes (code_hash, personnummer, requested_by, created_at, expires_at) values ($1, $2, $3, $4, $5)', [
        hashOf(code),
        found.personnummer,
        requestedBy.trim(),
        at,
        expiresAt,
      ]);
      return { code: formatCode(code), qr: `${ENROLMENT_QR_PREFIX}${code}`, personnummer: found.personnummer, expiresAt };
    },

    /**
     * Redeems a code (its text or QR content) with the app's CSR: once, within
     * its validity, and only while the person holds fewer than three active
     * mobile eIDs. Everything happens in one transaction.
     */
    async redeem(codeInput: string, csrPem: string, deviceLabel?: string): Promise<EnrolledMobileEid> {
      const code = normaliseCode(codeInput);
      if (!code) throw new EnrolmentError('invalidParameters', `code: not an enrolment code (16 letters and digits, or the QR content ${ENROLMENT_QR_PREFIX}…)`);
      if (typeof csrPem !== 'string' || !csrPem.includes('CERTIFICATE REQUEST')) throw new EnrolmentError('invalidParameters', 'csr: a PEM PKCS#10 certificate request is required');
      if (deviceLabel !== undefined && (typeof deviceLabel !== 'string' || deviceLabel.length > 100)) throw new EnrolmentError('invalidParameters', 'deviceLabel: at most 100 characters');
      const hash = hashOf(code);
      return db.transaction(async (tx) => {
        const [row] = await tx.query<{ personnummer: string; expires_at: Date; used_at: Date | null }>(
          'select personnummer, expires_at, used_at from authn_enrolment_codes where code_hash = $1 for update',
          [hash],
        );
        const at = now();
        if (!row) throw new EnrolmentError('unknownCode', 'no such enrolment code: check what was typed, or ask for a new code');
        if (row.used_at) throw new EnrolmentError('usedCode', 'the enrolment code has already been used: ask for a new code');
        if (row.expires_at.getTime() <= at.getTime()) throw new EnrolmentError('expiredCode', `the enrolment code expired at ${row.expires_at.toISOString()}: ask for a new code`);
        // Two codes of one person redeemed at once must not both pass the count.
        await tx.query('select pg_advisory_xact_lock(hashtext($1))', [`authn-enrol:${row.personnummer}`]);
        const active = await activeSerials(tx, row.personnummer, at);
        if (active.length >= MAX_ACTIVE_MOBILE_EIDS) throw tooMany(active.length);
        const person = await loginAttributes(tx, row.personnummer);
        if (!person || person.deceased) throw new EnrolmentError('unknownPerson', `the directory no longer knows ${row.personnummer} as a living person`);
        let issued;
        try {
          issued = await pki.issueForCsrKey('mobile', csrPem, subjectOf(person), tx);
        } catch (error) {
          if (error instanceof IssuanceRefused) throw new EnrolmentError('csrRefused', `csr: ${error.message}`);
          throw error;
        }
        const notAfter = issued.certificate.notAfter;
        await tx.query('insert into authn_mobile_eids (serial, personnummer, enrolled_at, not_after, enrolment_code_hash, device_label) values ($1, $2, $3, $4, $5, $6)', [
          issued.serial,
          row.personnummer,
          at,
          notAfter,
          hash,
          deviceLabel ?? null,
        ]);
        await placeMobileEid(tx, issued.serial, row.personnummer);
        await tx.query('update authn_enrolment_codes set used_at = $2, certificate_serial = $3 where code_hash = $1', [hash, at, issued.serial]);
        return { serial: issued.serial, personnummer: row.personnummer, certificatePem: issued.certificatePem, chainPem: issued.chainPem, notAfter };
      });
    },

    /** The mobile eIDs enrolled for a person, newest first, with their state now. */
    async mobileEidsOf(person: string): Promise<MobileEidRecord[]> {
      const { personnummer } = await findHolder(db, person);
      const rows = await db.query<{ serial: string; enrolled_at: Date; not_after: Date; device_label: string | null }>(
        'select serial, enrolled_at, not_after, device_label from authn_mobile_eids where personnummer = $1 order by enrolled_at desc, serial',
        [personnummer],
      );
      const at = now();
      const records: MobileEidRecord[] = [];
      for (const row of rows) {
        const revoked = (await pki.status(row.serial))?.status !== 'good';
        records.push({ serial: row.serial, enrolledAt: row.enrolled_at, notAfter: row.not_after, deviceLabel: row.device_label, status: revoked ? 'revoked' : row.not_after <= at ? 'expired' : 'active' });
      }
      return records;
    },
  };
}

export type EnrolmentService = ReturnType<typeof createEnrolmentService>;

/**
 * Where the reports count a mobile eID (migration 0311): under each
 * organisation the holder works in now, at the unit of their service identity
 * there (the lowest HSA-id when they have several, so it counts once per
 * organisation). Fixed at enrolment, so the history does not move with the holder.
 */
async function placeMobileEid(tx: Queryable, serial: string, personnummer: string): Promise<void> {
  const places = await serviceIdentityPlaces(tx, [personnummer]);
  const seen = new Set<string>();
  for (const place of places) {
    if (seen.has(place.organisationHsaId)) continue;
    seen.add(place.organisationHsaId);
    await tx.query('insert into authn_mobile_eid_place (serial, organisation_hsa_id, unit_hsa_id, holder_hsa_id) values ($1, $2, $3, $4)', [serial, place.organisationHsaId, place.unitHsaId, place.hsaId]);
  }
}

/** The person a code is for: by personnummer, or by one of their HSA-ids. */
async function findHolder(db: Queryable, person: string): Promise<PersonView> {
  if (typeof person !== 'string' || !person.trim()) throw new EnrolmentError('invalidParameters', 'person: a personnummer or an HSA-id is required');
  const identifier = person.trim();
  const byPersonnummer = /^\d{12}$/.test(identifier);
  if (byPersonnummer && !isPersonnummer(identifier)) throw new EnrolmentError('invalidParameters', `person: ${identifier} is not a valid personnummer`);
  const found = byPersonnummer ? await loginAttributes(db, identifier) : await findPersonByServiceIdentity(db, identifier.toUpperCase(), OPERATOR);
  if (!found) throw new EnrolmentError('unknownPerson', `the directory knows no person with ${byPersonnummer ? 'personnummer' : 'HSA-id'} ${identifier}`);
  if (found.deceased) throw new EnrolmentError('unknownPerson', `${found.personnummer} is recorded as deceased`);
  return found;
}

function subjectOf(person: PersonView) {
  const commonName = (person.displayName ?? `${person.givenName} ${person.surname}`).slice(0, 64);
  return { commonName, givenName: person.givenName, surname: person.surname, serialNumber: person.personnummer };
}

function newCode(): string {
  const bytes = randomBytes(CODE_LENGTH);
  // 16 characters of 5 bits each: 80 bits of randomness (each byte's low 5 bits are uniform).
  return Array.from(bytes, (b) => ALPHABET[b & 31]).join('');
}

function formatCode(code: string): string {
  return code.match(/.{4}/g)!.join('-');
}

/** Accepts the code as typed (any case, dashes or spaces, Crockford's look-alikes) or the QR content. */
export function normaliseCode(input: unknown): string | undefined {
  if (typeof input !== 'string' || input.length > 100) return undefined;
  const bare = input.startsWith(ENROLMENT_QR_PREFIX) ? input.slice(ENROLMENT_QR_PREFIX.length) : input;
  const code = bare.toUpperCase().replace(/[\s-]/g, '').replace(/O/g, '0').replace(/[IL]/g, '1');
  return code.length === CODE_LENGTH && [...code].every((c) => ALPHABET.includes(c)) ? code : undefined;
}

function hashOf(code: string): Uint8Array {
  return new Uint8Array(createHash('sha256').update(code).digest());
}
