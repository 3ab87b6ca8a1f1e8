import type { Part, PartFactory } from '../server/part.ts';
import { seedPortalDemo } from './seed.ts';

/**
 * The eID portal: roles per organisation, the card lifecycle (order,
 * production, hand-out and activation, revocation) and the audit trail that
 * records every change.
 */
export const createPortalPart: PartFactory = async (context): Promise<Part> => ({
  name: 'portal',
  title: { sv: 'eID-portal', en: 'eID portal' },
  description: {
    sv: 'ID-administratörernas portal: roller, beställning, produktion, utlämning, aktivering och spärr av kort, med spårbar logg.',
    en: "The ID administrators' portal: roles, ordering, production, hand-out, activation and revocation of cards, with an audit trail.",
  },
  links: [],
  seedDemo: () => seedPortalDemo(context),
});

export { portalConfigSchema, type PortalConfig } from './config.ts';
export { registerPortalCommands } from './cli.ts';
export { PortalRefused } from './errors.ts';
export { verifyAudit, readAudit, appendAudit, type AuditEntry, type AuditVerification } from './audit.ts';
export { may, ROLES, ACTIONS, type Role, type Action, type Actor, type Target, type RoleAssignment } from './roles.ts';
