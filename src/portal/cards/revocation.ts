import type { RevocationReason } from '../../pki/index.ts';
import type { Database, Queryable } from '../../store/index.ts';
import { appendAudit } from '../audit.ts';
import { authorize, type Principal, type Recorded } from '../access.ts';
import { PortalRefused } from '../errors.ts';
import { cardTarget, type CardContext, type CardPki } from './context.ts';
import { cardSnapshot, certificatesOf, loadCard, moveCard, type Card, type CardCertificate } from './store.ts';

/** Why a card is revoked, as the reporter says it, and the RFC 5280 reason the CRL carries. */
export const REVOCATION_CAUSES = {
  lost: 'keyCompromise',
  stolen: 'keyCompromise',
  'suspected-misuse': 'keyCompromise',
  'employment-ended': 'affiliationChanged',
  replaced: 'superseded',
  damaged: 'cessationOfOperation',
} as const satisfies Record<string, RevocationReason>;
export type RevocationCause = keyof typeof REVOCATION_CAUSES;
export const REVOCATION_CHANNELS = ['phone', 'in-person', 'paper'] as const;
export type RevocationChannel = (typeof REVOCATION_CHANNELS)[number];

/** Revocation requests are kept ten years after registration (the seeds: "ska sparas i 10 år"). */
export const KEEP_YEARS = 10;

export interface RevocationRequest {
  readonly cardId: number;
  /** Which of the card's certificates; all of them when empty. */
  readonly serials: readonly string[];
  /** Who asked: the holder, a manager, ... (name and how to reach them). */
  readonly reportedBy: string;
  readonly channel: RevocationChannel;
  /** When the request came in; earlier than now when logged on paper during an outage. */
  readonly receivedAt: Date;
  readonly cause: RevocationCause;
  readonly note: string | null;
}

export interface RegisteredRevocation {
  readonly id: number;
  readonly card: Card;
  readonly serials: readonly string[];
  readonly receivedAt: Date;
  readonly registeredAt: Date;
  readonly keepUntil: Date;
}

/** Registers a revocation request after checking it, and revokes (recordRevocation). */
export async function registerRevocation(context: CardContext, by: Principal, request: RevocationRequest): Promise<RegisteredRevocation> {
  const now = context.now();
  if (!Object.hasOwn(REVOCATION_CAUSES, request.cause)) throw new PortalRefused('invalid', `the cause must be one of ${Object.keys(REVOCATION_CAUSES).join(', ')}`);
  if (!REVOCATION_CHANNELS.includes(request.channel)) throw new PortalRefused('invalid', `the channel must be one of ${REVOCATION_CHANNELS.join(', ')}`);
  if (!request.reportedBy.trim() || request.reportedBy.length > 200) throw new PortalRefused('invalid', 'say who reported the request (at most 200 characters)');
  if (Number.isNaN(request.receivedAt.getTime()) || request.receivedAt.getTime() > now.getTime()) throw new PortalRefused('invalid', 'the time the request was received cannot be in the future');
  const card = await loadCard(context.db, request.cardId);
  const recorded = authorize(by, 'revocation.register', await cardTarget(context.db, card));
  if (request.receivedAt.getTime() < card.orderedAt.getTime()) throw new PortalRefused('invalid', `the request cannot have been received before the card was ordered (${card.orderedAt.toISOString()})`);
  const certificates = await certificatesOf(context.db, card.id);
  if (certificates.length === 0) throw new PortalRefused('conflict', `card ${card.id} has no certificates (it is ${card.status}); withdraw the order instead`);
  const wanted = request.serials.length ? request.serials.map((s) => s.toLowerCase()) : certificates.map((c) => c.serial);
  const foreign = wanted.filter((s) => !certificates.some((c) => c.serial === s));
  if (foreign.length) throw new PortalRefused('invalid', `certificate(s) ${foreign.join(', ')} are not on card ${card.id}`);

  return recordRevocation(context, recorded, card, certificates, wanted, {
    reportedBy: request.reportedBy.trim(),
    channel: request.channel,
    receivedAt: request.receivedAt,
    cause: request.cause,
    reason: REVOCATION_CAUSES[request.cause],
    note: request.note,
  });
}

/** Why the system itself revokes a card (a scheduled job), and the RFC 5280 reason the CRL carries. */
export const SYSTEM_REVOCATION_CAUSES = {
  // Never taken into use: the certificates are no longer needed.
  'not-activated': 'cessationOfOperation',
  // A reserve card is temporary: its validity (cards/reserve.ts) ran out.
  'reserve-expired': 'cessationOfOperation',
} as const satisfies Record<string, RevocationReason>;
export type SystemRevocationCause = keyof typeof SYSTEM_REVOCATION_CAUSES;

/**
 * The system revokes every certificate of a card on its own account: the
 * actor is `system:<job>`, the channel `system`, the request received now.
 * Recorded like a registered request (record kept ten years, card revoked,
 * audit entry). Refused, with nothing revoked, when the card is no longer in
 * `expectedStatus` — checked again under the card's lock, so a card handed
 * out meanwhile keeps its certificates — or when `stillDue` refuses it there.
 */
export async function revokeBySystem(
  context: CardContext,
  system: string,
  cardId: number,
  expectedStatus: Card['status'],
  cause: SystemRevocationCause,
  note: string,
  stillDue?: (tx: Queryable, card: Card) => Promise<void>,
): Promise<RegisteredRevocation> {
  const card = await loadCard(context.db, cardId);
  if (card.status !== expectedStatus) throw new PortalRefused('conflict', `card ${card.id} is ${card.status}, no longer ${expectedStatus}`);
  const certificates = await certificatesOf(context.db, card.id);
  if (certificates.length === 0) throw new PortalRefused('conflict', `card ${card.id} has no certificates (it is ${card.status})`);
  const actor = `system:${system}`;
  return recordRevocation(
    context,
    { actor, role: null, organisation: card.organisation },
    card,
    certificates,
    certificates.map((c) => c.serial),
    { reportedBy: actor, channel: 'system', receivedAt: context.now(), cause, reason: SYSTEM_REVOCATION_CAUSES[cause], note },
    stillDue,
  );
}

export interface RevocationDetails {
  readonly reportedBy: string;
  readonly channel: RevocationChannel | 'self-service' | 'system';
  readonly receivedAt: Date;
  readonly cause: RevocationCause | SystemRevocationCause;
  readonly reason: RevocationReason;
  readonly note: string | null;
  /** The audit entry's action; 'revocation.register' unless the channel has its own. */
  readonly action?: string;
}

/** What recording a revocation needs: the store, the clock and the PKI's revocation. */
export interface RevocationContext {
  readonly db: Database;
  readonly pki: Pick<CardPki, 'revoke' | 'status'>;
  readonly now: () => Date;
}

/**
 * Revokes `wanted` of the card's certificates and records it, in one
 * transaction: the card is locked and must still be in the status it was read
 * in (else nothing is revoked: a card handed out meanwhile keeps good
 * certificates, and a hand-out waiting on the lock then finds the card
 * revoked), the PKI revokes with the time the request was received as the
 * invalidity date, the request is recorded and kept ten years, the card is
 * marked revoked once all its certificates are, and the audit entry written.
 * All of it commits, or none: no certificate revoked without its record.
 */
export async function recordRevocation(
  context: RevocationContext,
  recorded: Recorded,
  card: Card,
  certificates: readonly CardCertificate[],
  wanted: readonly string[],
  details: RevocationDetails,
  stillDue?: (tx: Queryable, card: Card) => Promise<void>,
): Promise<RegisteredRevocation> {
  const now = context.now();
  const keepUntil = new Date(now);
  keepUntil.setUTCFullYear(keepUntil.getUTCFullYear() + KEEP_YEARS);
  return context.db.transaction(async (tx) => {
    const locked = await loadCard(tx, card.id, true);
    if (locked.status !== card.status) throw new PortalRefused('conflict', `card ${card.id} is ${locked.status}, no longer ${card.status}; nothing was revoked`);
    await stillDue?.(tx, locked);
    for (const serial of wanted) await context.pki.revoke({ serial, reason: details.reason, invalidityDate: details.receivedAt, actor: recorded.actor }, tx);
    const [row] = await tx.query<{ id: number }>(
      `insert into portal_revocation (card_id, personnummer, serials, reported_by, channel, received_at, registered_at, reason, received_by, note, keep_until)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) returning id`,
      [card.id, card.personnummer, wanted, details.reportedBy, details.channel, details.receivedAt, now, details.cause, recorded.actor, details.note, keepUntil],
    );
    const allRevoked = certificates.every((c) => wanted.includes(c.serial)) || (await allRevokedInPki(context, tx, certificates.map((c) => c.serial)));
    const after = allRevoked && locked.status !== 'revoked' ? await moveCard(tx, locked, 'revoked', '', [], now) : locked;
    await appendAudit(
      tx,
      {
        ...recorded,
        action: details.action ?? 'revocation.register',
        target: `card:${card.id}`,
        before: cardSnapshot(locked),
        after: { ...cardSnapshot(after), revocation: { id: row!.id, serials: wanted, reportedBy: details.reportedBy, channel: details.channel, receivedAt: details.receivedAt, cause: details.cause, reason: details.reason } },
      },
      now,
    );
    return { id: row!.id, card: after, serials: wanted, receivedAt: details.receivedAt, registeredAt: now, keepUntil };
  });
}

async function allRevokedInPki(context: RevocationContext, tx: Queryable, serials: readonly string[]): Promise<boolean> {
  for (const serial of serials) if ((await context.pki.status(serial, tx))?.status !== 'revoked') return false;
  return true;
}
