import type { FastifyInstance } from 'fastify';
import { authnFrom, createEnrolmentService, type AuthnServices } from '../authn/index.ts';
import { pkiFrom } from '../pki/index.ts';
import type { Part, PartFactory } from '../server/index.ts';
import { apiRoutes } from './api/routes.ts';
import type { CardContext } from './cards/context.ts';
import { batchSigner, type BatchSigner } from './cards/production.ts';
import { supersedeOverdue } from './function/certificates.ts';
import { functionUiRoutes } from './function/ui.ts';
import { ensurePortalClient, portalRelyingParty } from './idp.ts';
import { expiredReserveCardsJob } from './jobs/expired-reserve-cards.ts';
import { functionCertificateRemindersJob } from './jobs/function-certificate-reminders.ts';
import { retentionJob } from './jobs/retention.ts';
import { staleRolesJob } from './jobs/stale-roles.ts';
import { unactivatedCardsJob } from './jobs/unactivated-cards.ts';
import { unknownHoldersJob } from './jobs/unknown-holders.ts';
import { unfinishedOrdersJob } from './jobs/unfinished-orders.ts';
import { reportUiRoutes } from './reports/ui.ts';
import { seedPortalDemo } from './seed.ts';
import { uiRoutes } from './ui/routes.ts';

/**
 * The eID portal: roles per organisation, the card lifecycle (order,
 * production, hand-out and activation, revocation) and the audit trail that
 * records every change. Administrators sign in through Tillit's own IdP, so
 * the oidc part (and the PKI) must start before it.
 */
export const createPortalPart: PartFactory = async (context, started): Promise<Part> => {
  const { config, db, ephemeral, log, now } = context;
  const pki = pkiFrom(started);
  if (!started.has('oidc')) throw new Error('the oidc part must run (and start before) the portal: administrators sign in through it');
  await ensurePortalClient(db, config);
  // The person view reads mobile eIDs from the authentication service's records whether or not its part runs here.
  const enrolmentRecords = createEnrolmentService({ db, pki, now });
  // A stand-in authn part (tests) may provide no services: then cards cannot be unlocked and Mina sidor has no mobile eID section.
  const authn = started.get('authn')?.provides ? (authnFrom(started) as Partial<AuthnServices>) : undefined;
  const enrolment = authn?.enrolment;
  const cards: CardContext = {
    db,
    pki,
    now,
    config: config.portal,
    mobileEidsOf: (personnummer) => enrolmentRecords.mobileEidsOf(personnummer),
    ...(authn?.orders ? { orders: authn.orders } : {}),
  };
  let signing: Promise<BatchSigner> | undefined;
  // The batch-signing key lives in memory: each batch carries the certificate that verifies it.
  const signer = () =>
    (signing ??= pki
      .issueWithNewKey('function-client', { commonName: 'Tillit eID portal batch signer', serialNumber: config.portal.batchSignerHsaId, organization: config.pki.organisation })
      .then((issued) => batchSigner(issued.privateKeyPem, issued.certificatePem))
      .catch((error: unknown) => {
        signing = undefined;
        throw error;
      }));
  // Renewed function certificates whose successor was never fetched: their predecessors are revoked once the grace period ends.
  const superseding = setInterval(() => void supersedeOverdue({ db, pki, now }).catch((error: unknown) => log.error({ err: error }, 'portal: superseding renewed function certificates failed')), 3_600_000);
  superseding.unref();
  return {
    name: 'portal',
    title: { sv: 'eID-portal', en: 'eID portal' },
    description: {
      sv: 'ID-administratörernas portal: roller, beställning, produktion, utlämning, aktivering och spärr av kort, med spårbar logg.',
      en: "The ID administrators' portal: roles, ordering, production, hand-out, activation and revocation of cards, with an audit trail.",
    },
    links: [
      { href: '/portal', label: { sv: 'eID-portalen (ID-administratörer)', en: 'eID portal (ID administrators)' } },
      { href: '/portal/function-certificates', label: { sv: 'Funktionscertifikat', en: 'Function certificates' } },
      { href: '/portal/mine', label: { sv: 'Mina sidor', en: 'My pages' } },
      { href: '/portal/reports', label: { sv: 'Rapporter', en: 'Reports' } },
      { href: '/portal/api/openapi.json', label: { sv: 'eID-portalens API (OpenAPI)', en: 'eID portal API (OpenAPI)' } },
    ],
    https: async (app: FastifyInstance) => {
      const relyingParty = portalRelyingParty(app, db, config, () => now().getTime());
      const authenticate = async (request: { headers: Record<string, string | string[] | undefined> }) => {
        const token = /^Bearer ([^\s]+)$/i.exec(String(request.headers['authorization'] ?? ''))?.[1];
        if (!token) return null;
        // Fails closed: an IdP that cannot answer means no access.
        return relyingParty.bearerHsaId(token).catch((error: unknown) => {
          log.warn({ err: error }, 'portal: access token could not be checked');
          return null;
        });
      };
      await app.register(apiRoutes({ cards, signer, authenticate, functions: { db, pki, now }, ...(enrolment ? { enrolment } : {}) }));
      await app.register(uiRoutes({ cards, ephemeral, signer, relyingParty, idleMs: config.portal.idleMinutes * 60_000 }));
      await app.register(reportUiRoutes({ db, ephemeral, now, idleMs: config.portal.idleMinutes * 60_000, trainingValidForDays: config.portal.trainingValidForDays }));
      await app.register(functionUiRoutes({ functions: { db, pki, now }, selfService: { ...cards, enrolment }, ephemeral, idleMs: config.portal.idleMinutes * 60_000, trainingValidForDays: config.portal.trainingValidForDays }));
    },
    seedDemo: () => seedPortalDemo(context),
    // The rules that keep the registry clean (src/portal/jobs); the reminders only where the outbox is delivered.
    jobs: [
      unactivatedCardsJob({ pki, config: config.portal }),
      expiredReserveCardsJob({ pki, config: config.portal }),
      unfinishedOrdersJob({ pki, config: config.portal }),
      staleRolesJob,
      retentionJob,
      unknownHoldersJob,
      ...(started.has('mail') ? [functionCertificateRemindersJob(config)] : []),
    ],
    stop: async () => clearInterval(superseding),
  };
};

export { portalConfigSchema, type PortalConfig } from './config.ts';
export { registerPortalCommands } from './cli.ts';
export { PortalRefused } from './errors.ts';
export { verifyAudit, readAudit, appendAudit, type AuditEntry, type AuditVerification } from './audit.ts';
export { may, ROLES, ACTIONS, type Role, type Action, type Actor, type Target, type RoleAssignment } from './roles.ts';
