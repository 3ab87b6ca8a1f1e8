import { holderStandings } from '../directory/index.ts';
import { eidCertificatesIssued, eidIssueSettledBefore, type EidCertificate, type IssuedEidCertificate, type IssuePosition } from '../pki/index.ts';
import type { Database, Queryable } from '../store/index.ts';

/**
 * Certificates of unknown holders, kept so that each certificate is checked
 * against the directory once. The directory never deletes a person or a
 * service identity and a certificate's identifier never changes, so a holder
 * once known stays known: only the certificates found unknown need checking
 * again. The job portal-unknown-holders goes through the PKI's eID
 * certificates in the order of issue and records how far it got; what was
 * issued after that is checked when asked.
 */

/** How many certificates go to the PKI and the directory in one round trip. */
export const HOLDER_PAGE = 2_000;

/** Of these certificates, those whose identifier names nobody the directory knows (or that name no one). */
export async function ofUnknownHolders<C extends EidCertificate>(db: Queryable, certificates: readonly C[]): Promise<C[]> {
  const standings = await holderStandings(db, [...new Set(certificates.flatMap((c) => (c.identifier ? [c.identifier] : [])))]);
  return certificates.filter((c) => !c.identifier || !standings.get(c.identifier)?.known);
}

/** May be in force now or later: not expired, and not revoked for good (a hold can be released; a certificate may not be valid yet). */
export const mayBeInForce = (c: IssuedEidCertificate, now: Date): boolean => (c.revokedAt === null || c.onHold) && now < c.notAfter;

/** How far the job has checked, or null before its first run. */
export async function checkedThrough(db: Queryable): Promise<IssuePosition | null> {
  const [row] = await db.query<IssuePosition>(
    `select to_char(issued_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as "issuedAt", serial from portal_unknown_holder_progress`,
  );
  return row ?? null;
}

/** Where a certificate's card places it; a certificate on no card has none. */
export interface CardPlace {
  readonly serial: string;
  readonly cardId: number;
  readonly organisation: string;
  readonly unit: string | null;
}

const CARD_PLACE = `pcc.serial, pc.id::int as "cardId", pc.organisation_hsa_id as organisation, pc.unit_hsa_id as unit`;

export async function cardPlaces(db: Queryable, serials: readonly string[]): Promise<Map<string, CardPlace>> {
  const rows = await db.query<CardPlace>(`select ${CARD_PLACE} from portal_card_certificate pcc join portal_card pc on pc.id = pcc.card_id where pcc.serial = any($1::text[])`, [serials]);
  return new Map(rows.map((r) => [r.serial, r]));
}

/**
 * Recorded certificates of unknown holders on the organisation's cards (and,
 * with `onNoCard`, those on no card), by serial: a page of `limit` after
 * `afterSerial`, each with its card's place if it has one.
 */
export async function recordedUnknownHolders(
  db: Queryable,
  organisation: string,
  options: { readonly onNoCard: boolean; readonly afterSerial: string; readonly limit: number },
): Promise<{ serial: string; place: CardPlace | undefined }[]> {
  const rows = await db.query<{ serial: string; cardId: number | null; organisation: string | null; unit: string | null }>(
    `select u.serial, pc.id::int as "cardId", pc.organisation_hsa_id as organisation, pc.unit_hsa_id as unit
       from portal_unknown_holder u left join portal_card_certificate pcc on pcc.serial = u.serial left join portal_card pc on pc.id = pcc.card_id
      where u.serial > $2 and (pc.organisation_hsa_id = $1 or ($3 and pcc.serial is null))
      order by u.serial limit $4`,
    [organisation, options.afterSerial, options.onNoCard, options.limit],
  );
  return rows.map((r) => ({ serial: r.serial, place: r.cardId === null ? undefined : { serial: r.serial, cardId: r.cardId, organisation: r.organisation!, unit: r.unit } }));
}

export interface NewCertificatesChecked {
  readonly from: IssuePosition | null;
  readonly through: IssuePosition | null;
  readonly examined: number;
  readonly unknown: readonly string[];
}

/**
 * Checks the eID certificates issued since the job last got to (up to those
 * surely all visible), a page at a time, and records those that may be in
 * force and whose holder the directory does not know; the page and how far
 * it got are written in one transaction, so a run cut short resumes there.
 */
export async function checkNewCertificates(db: Database, now: Date, dryRun: boolean): Promise<NewCertificatesChecked> {
  const from = await checkedThrough(db);
  const before = await eidIssueSettledBefore(db);
  let through = from;
  let examined = 0;
  const unknown: string[] = [];
  for (;;) {
    const page = await eidCertificatesIssued(db, { after: through, before, limit: HOLDER_PAGE });
    if (page.length === 0) break;
    through = page.at(-1)!.position;
    examined += page.length;
    const found = await ofUnknownHolders(db, page.filter((c) => mayBeInForce(c, now)));
    unknown.push(...found.map((c) => c.serial));
    if (dryRun) continue;
    const position = through;
    await db.transaction(async (tx) => {
      await tx.query(
        `insert into portal_unknown_holder (serial, identifier, found_at) select * from unnest($1::text[], $2::text[]) as f(serial, identifier), (select $3::timestamptz) as t(found_at) on conflict (serial) do nothing`,
        [found.map((c) => c.serial), found.map((c) => c.identifier), now],
      );
      await tx.query(
        `insert into portal_unknown_holder_progress (issued_at, serial, checked_at) values ($1, $2, $3) on conflict (id) do update set issued_at = excluded.issued_at, serial = excluded.serial, checked_at = excluded.checked_at`,
        [position.issuedAt, position.serial, now],
      );
    });
  }
  return { from, through, examined, unknown };
}

export interface RecordedRechecked {
  readonly recorded: number;
  readonly nowKnown: readonly string[];
  readonly noLongerInForce: readonly string[];
}

/** Checks the recorded certificates again and drops those whose holder the directory now knows or that can no longer be in force. */
export async function recheckRecorded(db: Queryable, now: Date, dryRun: boolean): Promise<RecordedRechecked> {
  let recorded = 0;
  const nowKnown: string[] = [];
  const noLongerInForce: string[] = [];
  for (let after = ''; ; ) {
    const serials = (await db.query<{ serial: string }>('select serial from portal_unknown_holder where serial > $1 order by serial limit $2', [after, HOLDER_PAGE])).map((r) => r.serial);
    if (serials.length === 0) break;
    after = serials.at(-1)!;
    recorded += serials.length;
    const live = (await eidCertificatesIssued(db, { serials })).filter((c) => mayBeInForce(c, now));
    const stillUnknown = new Set((await ofUnknownHolders(db, live)).map((c) => c.serial));
    const liveSerials = new Set(live.map((c) => c.serial));
    const dropped = serials.filter((s) => !stillUnknown.has(s));
    for (const serial of dropped) (liveSerials.has(serial) ? nowKnown : noLongerInForce).push(serial);
    if (!dryRun && dropped.length) await db.query('delete from portal_unknown_holder where serial = any($1::text[])', [dropped]);
  }
  return { recorded, nowKnown, noLongerInForce };
}
