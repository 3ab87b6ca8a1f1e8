import { EnrolmentError, MAX_ACTIVE_MOBILE_EIDS, type EnrolmentService, type MobileEidRecord } from '../../authn/index.ts';
import { findPersonByServiceIdentity } from '../../directory/index.ts';
import { appendAudit } from '../audit.ts';
import { KEEP_YEARS } from '../cards/revocation.ts';
import { PortalRefused } from '../errors.ts';
import type { SelfServiceContext } from './mine.ts';

/**
 * "Mina sidor", the mobile eID half: the signed-in person's mobile eIDs, a
 * new enrolment code for the app, and "I lost my phone". The enrolment
 * service (authn) keeps the eIDs; the portal adds the holder check, the
 * revocation record and the audit trail.
 */
export interface MobileSelfServiceContext extends SelfServiceContext {
  /** The running enrolment service; absent where authn does not run, and then these pages say so. */
  readonly enrolment?: EnrolmentService | undefined;
}

export interface MyEnrolmentCode {
  readonly code: string;
  readonly qr: string;
  readonly expiresAt: Date;
}

interface Holder {
  readonly personnummer: string;
  readonly organisation: string;
  readonly enrolment: EnrolmentService;
}

async function holderOf(context: MobileSelfServiceContext, hsaId: string): Promise<Holder> {
  if (!context.enrolment) throw new PortalRefused('not-found', 'mobile eIDs are not offered here (the authentication service does not run)');
  const person = await findPersonByServiceIdentity(context.db, hsaId, { mayViewProtectedIdentities: true });
  if (!person) throw new PortalRefused('forbidden', `${hsaId} is not a current service identity`);
  const identity = person.serviceIdentities.find((s) => s.hsaId === hsaId);
  return { personnummer: person.personnummer, organisation: identity?.organisation.hsaId ?? '', enrolment: context.enrolment };
}

/** My mobile eIDs, newest first, each active, revoked or expired as of now. */
export async function myMobileEids(context: MobileSelfServiceContext, hsaId: string): Promise<MobileEidRecord[]> {
  const holder = await holderOf(context, hsaId);
  return holder.enrolment.mobileEidsOf(holder.personnummer);
}

/**
 * A one-time code for enrolling the eID app. Refused, with no code made,
 * while I hold the most active mobile eIDs allowed. The audit trail records
 * that a code was made and until when, never the code itself.
 */
export async function startMyEnrolment(context: MobileSelfServiceContext, hsaId: string): Promise<MyEnrolmentCode> {
  const holder = await holderOf(context, hsaId);
  const active = (await holder.enrolment.mobileEidsOf(holder.personnummer)).filter((e) => e.status === 'active').length;
  if (active >= MAX_ACTIVE_MOBILE_EIDS) {
    throw new PortalRefused('conflict', `you already have ${active} active mobile eIDs, the most allowed (${MAX_ACTIVE_MOBILE_EIDS}); report one lost before enrolling another`);
  }
  let code;
  try {
    code = await holder.enrolment.createCode(holder.personnummer, hsaId);
  } catch (error) {
    if (error instanceof EnrolmentError) throw new PortalRefused(error.code === 'tooManyEids' ? 'conflict' : 'invalid', error.message);
    throw error;
  }
  const now = context.now();
  await context.db.transaction((tx) =>
    appendAudit(tx, { actor: hsaId, role: null, organisation: holder.organisation, action: 'self-service.mobile-eid-enrolment-code', target: `person:${hsaId}`, before: { activeMobileEids: active }, after: { expiresAt: code.expiresAt.toISOString() } }, now),
  );
  return { code: code.code, qr: code.qr, expiresAt: code.expiresAt };
}

/**
 * I lost my phone: the mobile eID is revoked at once (keyCompromise, invalid
 * from now), recorded as a revocation request through the self-service
 * channel, kept ten years like any other, and audited. Another person's eID
 * is "not found", so nothing is learnt about it.
 */
export async function reportMyMobileEidLost(context: MobileSelfServiceContext, hsaId: string, serial: string): Promise<{ revocationId: number; serial: string }> {
  const holder = await holderOf(context, hsaId);
  const eid = (await holder.enrolment.mobileEidsOf(holder.personnummer)).find((e) => e.serial === serial);
  if (!eid) throw new PortalRefused('not-found', `you have no mobile eID ${serial}`);
  if (eid.status !== 'active') throw new PortalRefused('conflict', `mobile eID ${serial} is ${eid.status}: only an active mobile eID can be reported lost`);
  const now = context.now();
  await context.pki.revoke({ serial, reason: 'keyCompromise', invalidityDate: now, actor: hsaId });
  const keepUntil = new Date(now);
  keepUntil.setUTCFullYear(keepUntil.getUTCFullYear() + KEEP_YEARS);
  return context.db.transaction(async (tx) => {
    const [row] = await tx.query<{ id: number }>(
      `insert into portal_revocation (card_id, personnummer, serials, reported_by, channel, received_at, registered_at, reason, received_by, note, keep_until)
         values (null, $1, $2, $3, 'self-service', $4, $4, 'lost', $3, 'mobile eID', $5) returning id`,
      [holder.personnummer, [serial], hsaId, now, keepUntil],
    );
    await appendAudit(
      tx,
      {
        actor: hsaId,
        role: null,
        organisation: holder.organisation,
        action: 'self-service.report-mobile-eid-lost',
        target: `mobile-eid:${serial}`,
        before: { status: eid.status, notAfter: eid.notAfter.toISOString() },
        after: { status: 'revoked', revocation: { id: row!.id, serials: [serial], cause: 'lost', reason: 'keyCompromise', channel: 'self-service' } },
      },
      now,
    );
    return { revocationId: Number(row!.id), serial };
  });
}
