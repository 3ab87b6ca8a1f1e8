import { findPersonByServiceIdentity, isCurrentOrganisation, unitAncestry, type PersonView } from '../directory/index.ts';
import type { Queryable } from '../store/index.ts';
import { PortalRefused } from './errors.ts';
import { grantingAssignment, isRole, type Action, type Actor, type RoleAssignment, type Target } from './roles.ts';

/** Someone at the command line (an operator of the installation): not bound by portal roles, still recorded. */
export interface Operator {
  readonly operator: string;
}
export type Principal = Actor | Operator;
export const isOperator = (principal: Principal): principal is Operator => 'operator' in principal;

/** Who the audit trail names for a change: the actor, the role that allowed it and the organisation it was done in. */
export interface Recorded {
  readonly actor: string;
  readonly role: string | null;
  readonly organisation: string | null;
}

interface AssignmentRow {
  id: number;
  holder_hsa_id: string;
  role: string;
  organisation_hsa_id: string;
  unit_hsa_id: string | null;
  trained_on: Date | null;
}

export const ASSIGNMENT_COLUMNS = 'id, holder_hsa_id, role, organisation_hsa_id, unit_hsa_id, trained_on';

export function assignmentFromRow(row: AssignmentRow): RoleAssignment {
  if (!isRole(row.role)) throw new Error(`unknown role in portal_role_assignment ${row.id}: ${row.role}`);
  return { id: row.id, holder: row.holder_hsa_id, role: row.role, organisation: row.organisation_hsa_id, unit: row.unit_hsa_id, trainedOn: row.trained_on };
}

/** The signed-in person with their current assignments, as the permission rule sees them. */
export async function loadActor(db: Queryable, hsaId: string, now: Date, trainingValidForDays: number): Promise<Actor> {
  const rows = await db.query<AssignmentRow>(`select ${ASSIGNMENT_COLUMNS} from portal_role_assignment where holder_hsa_id = $1 and removed_at is null order by id`, [hsaId]);
  return { hsaId, assignments: rows.map(assignmentFromRow), now, trainingValidForDays };
}

/** Where something sits (organisation, unit), checked against the directory, as a permission target. */
export async function placeTarget(db: Queryable, organisation: string, unit: string | null, extra: Partial<Target> = {}): Promise<Target> {
  if (unit === null) {
    if (!(await isCurrentOrganisation(db, organisation))) throw new PortalRefused('not-found', `no current organisation with HSA-id ${organisation}`);
    return { organisation, units: [], ...extra };
  }
  const ancestry = await unitAncestry(db, unit);
  if (!ancestry || ancestry.organisationHsaId !== organisation) throw new PortalRefused('not-found', `unit ${unit} is not a current unit of ${organisation}`);
  return { organisation, units: ancestry.units, ...extra };
}

/** The targets a person's current service identities give: acting on the person needs the role in one of them. */
export async function personTargets(db: Queryable, person: PersonView): Promise<Target[]> {
  const targets: Target[] = [];
  for (const si of person.serviceIdentities) {
    targets.push(await placeTarget(db, si.organisation.hsaId, si.unit?.hsaId ?? null, { protectedIdentity: person.protectedIdentity }));
  }
  return targets;
}

/** A current service identity and its person (protected ones too: the caller decides what may be shown). */
export async function serviceIdentityHolder(db: Queryable, hsaId: string): Promise<PersonView> {
  const person = await findPersonByServiceIdentity(db, hsaId, { mayViewProtectedIdentities: true });
  if (!person) throw new PortalRefused('not-found', `no current service identity with HSA-id ${hsaId}`);
  return person;
}

/**
 * The server-side check every change and read goes through. Operators pass;
 * an actor needs a role in force that allows the action on the target.
 * The refusal does not say whether the target exists elsewhere.
 */
export function authorize(principal: Principal, action: Action, target: Target): Recorded {
  if (isOperator(principal)) return { actor: `operator:${principal.operator}`, role: null, organisation: target.organisation };
  const granted = grantingAssignment(principal, action, target);
  if (!granted) throw new PortalRefused('forbidden', `you hold no role in force that allows ${action} in ${target.organisation}${target.units[0] ? ` (unit ${target.units[0]})` : ''}${target.protectedIdentity ? ' for a person with protected identity' : ''}`);
  return { actor: principal.hsaId, role: granted.role, organisation: target.organisation };
}

/** The first of several targets the principal may act on (a person employed in several organisations). */
export function authorizeAny(principal: Principal, action: Action, targets: readonly Target[]): Recorded {
  if (targets.length === 0) throw new PortalRefused('forbidden', `${action}: the person has no current service identity in an organisation you administer`);
  let refusal: unknown;
  for (const target of targets) {
    try {
      return authorize(principal, action, target);
    } catch (error) {
      refusal = error;
    }
  }
  throw refusal;
}

