/**
 * Roles in the portal (domain.md §5) and the one permission rule every page
 * and API call goes through: `may(actor, action, target)`. A role is held for
 * an organisation, or for one unit and everything below it.
 */

export const ROLES = [
  'id-administrator',
  'responsible-issuer',
  'deputy-issuer',
  'function-certificate-orderer',
  'validation-specialist',
  'security-officer',
  // Not a role of its own: the extra right to see protected-identity persons, within its scope.
  'protected-identity-viewer',
] as const;
export type Role = (typeof ROLES)[number];
export const isRole = (value: string): value is Role => (ROLES as readonly string[]).includes(value);

export const ACTIONS = [
  'person.view',
  'order.create',
  'order.withdraw',
  'order.confirm-reserve',
  'stock.manage',
  'production.export',
  'production.import',
  'card.hand-out',
  'card.unlock',
  'revocation.register',
  'role.appoint',
  'role.remove',
  'function-certificate.order',
  'domain.validate',
  'audit.read',
  'report.read',
] as const;
export type Action = (typeof ACTIONS)[number];
export const isAction = (value: string): value is Action => (ACTIONS as readonly string[]).includes(value);

/** What each role may do. The issuers see everything for the organisation but do not check identities themselves. */
const ROLE_ACTIONS: Readonly<Record<Role, readonly Action[]>> = {
  'id-administrator': ['person.view', 'order.create', 'order.withdraw', 'order.confirm-reserve', 'stock.manage', 'card.hand-out', 'card.unlock', 'revocation.register'],
  'responsible-issuer': ['person.view', 'stock.manage', 'production.export', 'production.import', 'revocation.register', 'role.appoint', 'role.remove', 'audit.read', 'report.read'],
  'deputy-issuer': ['person.view', 'stock.manage', 'production.export', 'production.import', 'revocation.register', 'role.appoint', 'role.remove', 'audit.read', 'report.read'],
  'function-certificate-orderer': ['function-certificate.order'],
  'validation-specialist': ['domain.validate'],
  'security-officer': ['audit.read', 'report.read'],
  'protected-identity-viewer': [],
};

/** Which roles a role may appoint and remove: the responsible issuer all but its own kind; a deputy, by delegation, the working roles. */
const APPOINTABLE: Readonly<Partial<Record<Role, readonly Role[]>>> = {
  'responsible-issuer': ['id-administrator', 'deputy-issuer', 'function-certificate-orderer', 'security-officer', 'protected-identity-viewer'],
  'deputy-issuer': ['id-administrator', 'function-certificate-orderer'],
};

export interface RoleAssignment {
  readonly id: number;
  /** The holder's HSA-id (the service identity they sign in with). */
  readonly holder: string;
  readonly role: Role;
  readonly organisation: string;
  /** The unit whose subtree the role covers; null: the whole organisation. */
  readonly unit: string | null;
  /** Only for ID administrators: the date of their latest training. */
  readonly trainedOn: Date | null;
}

export interface Actor {
  readonly hsaId: string;
  /** The holder's current (not removed) assignments. */
  readonly assignments: readonly RoleAssignment[];
  readonly now: Date;
  /** An ID administrator's role lapses when the training is missing or older than this. */
  readonly trainingValidForDays: number;
}

export interface Target {
  readonly organisation: string;
  /** The target's unit and its ancestors, nearest first; empty when it sits directly below the organisation. */
  readonly units: readonly string[];
  /** The person concerned has a protected identity: the actor also needs the viewing right in scope. */
  readonly protectedIdentity?: boolean;
  /** For role.appoint and role.remove: the role being given or taken. */
  readonly role?: Role;
}

const DAY_MS = 86_400_000;

/** Whether an assignment counts now: an ID administrator's needs a recent enough training date. */
export function isInForce(assignment: RoleAssignment, now: Date, trainingValidForDays: number): boolean {
  if (assignment.role !== 'id-administrator') return true;
  if (!assignment.trainedOn) return false;
  const age = now.getTime() - assignment.trainedOn.getTime();
  return age >= 0 && age <= trainingValidForDays * DAY_MS;
}

export function covers(assignment: RoleAssignment, target: Target): boolean {
  return assignment.organisation === target.organisation && (assignment.unit === null || target.units.includes(assignment.unit));
}

/** The assignment that allows `action` on `target`, or null: the role under which the action is recorded. */
export function grantingAssignment(actor: Actor, action: Action, target: Target): RoleAssignment | null {
  const inScope = actor.assignments.filter((a) => covers(a, target) && isInForce(a, actor.now, actor.trainingValidForDays));
  if (target.protectedIdentity && !inScope.some((a) => a.role === 'protected-identity-viewer')) return null;
  const appointing = action === 'role.appoint' || action === 'role.remove';
  if (appointing && !target.role) return null;
  return (
    inScope.find((a) => ROLE_ACTIONS[a.role].includes(action) && (!appointing || (APPOINTABLE[a.role] ?? []).includes(target.role!))) ?? null
  );
}

export function may(actor: Actor, action: Action, target: Target): boolean {
  return grantingAssignment(actor, action, target) !== null;
}

/** The actions a role allows (for the role list in the UI and the API document). */
export function actionsOf(role: Role): readonly Action[] {
  return ROLE_ACTIONS[role];
}
