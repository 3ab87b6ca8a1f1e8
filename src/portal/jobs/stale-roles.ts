import { findPersonByServiceIdentity, unitAncestry } from '../../directory/index.ts';
import type { Job } from '../../jobs/index.ts';
import type { Database, Queryable } from '../../store/index.ts';
import { ASSIGNMENT_COLUMNS, assignmentFromRow, authorize, isOperator, placeTarget, type Principal } from '../access.ts';
import { PortalRefused } from '../errors.ts';
import { may, type RoleAssignment } from '../roles.ts';
import { listAssignments } from '../role-store.ts';

export const STALE_ROLES_JOB = 'portal-stale-roles';

export type RemovalReason = 'service identity ended' | 'no current commission' | 'no current commission with the organisation' | 'no current commission in the unit or below it';

/** A current commission of the holder: its care provider, and its care unit with the units above it. */
export interface HolderCommission {
  readonly careProvider: string;
  readonly careUnitAndAbove: readonly string[];
}

/**
 * Why an assignment's holder no longer matches it, or null when they do: the
 * holder's service identity is current and has a current commission with the
 * assignment's organisation and, for a role held for a unit, in that unit or
 * below it. `commissions` is null when the service identity is not current.
 */
export function removalReason(assignment: Pick<RoleAssignment, 'organisation' | 'unit'>, commissions: readonly HolderCommission[] | null): RemovalReason | null {
  if (commissions === null) return 'service identity ended';
  if (commissions.length === 0) return 'no current commission';
  const inOrganisation = commissions.filter((c) => c.careProvider === assignment.organisation);
  if (inOrganisation.length === 0) return 'no current commission with the organisation';
  if (assignment.unit !== null && !inOrganisation.some((c) => c.careUnitAndAbove.includes(assignment.unit!))) return 'no current commission in the unit or below it';
  return null;
}

async function holderCommissions(db: Queryable, holder: string, ancestry: Map<string, readonly string[]>): Promise<HolderCommission[] | null> {
  const person = await findPersonByServiceIdentity(db, holder, { mayViewProtectedIdentities: true });
  const identity = person?.serviceIdentities.find((s) => s.hsaId === holder);
  if (!identity) return null;
  const commissions: HolderCommission[] = [];
  for (const commission of identity.commissions) {
    const unit = commission.careUnit.hsaId;
    if (!ancestry.has(unit)) ancestry.set(unit, (await unitAncestry(db, unit))?.units ?? [unit]);
    commissions.push({ careProvider: commission.careProvider.hsaId, careUnitAndAbove: ancestry.get(unit)! });
  }
  return commissions;
}

export interface RemovalSuggestion {
  readonly assignment: RoleAssignment;
  readonly reason: RemovalReason;
  readonly since: Date;
}

/**
 * Checks every current role assignment against the directory and keeps the
 * list of those whose holder no longer has a matching commission, for the
 * responsible issuer to decide on. Nothing is removed: a person may hold a
 * role without a commission for a reason the directory does not know.
 */
export const staleRolesJob: Job = {
  name: STALE_ROLES_JOB,
  description: 'suggest removing role assignments whose holder has no matching commission any more (never removes)',
  defaultSchedule: 'daily 03:30',
  async run(context, { dryRun }) {
    const now = context.now();
    const assignments = await listAssignments(context.db, null);
    const byHolder = new Map<string, HolderCommission[] | null>();
    const ancestry = new Map<string, readonly string[]>();
    const found: { assignment: RoleAssignment; reason: RemovalReason }[] = [];
    for (const assignment of assignments) {
      if (!byHolder.has(assignment.holder)) byHolder.set(assignment.holder, await holderCommissions(context.db, assignment.holder, ancestry));
      const reason = removalReason(assignment, byHolder.get(assignment.holder)!);
      if (reason) found.push({ assignment, reason });
    }
    const previous = new Map((await context.db.query<{ assignment_id: number; first_suggested_at: Date }>('select assignment_id, first_suggested_at from portal_role_removal_suggestion')).map((r) => [r.assignment_id, r.first_suggested_at]));
    const current = new Set(found.map((f) => f.assignment.id));
    const resolved = [...previous.keys()].filter((id) => !current.has(id));
    if (!dryRun) {
      await context.db.transaction(async (tx) => {
        for (const { assignment, reason } of found) {
          await tx.query(
            `insert into portal_role_removal_suggestion (assignment_id, organisation_hsa_id, reasons, first_suggested_at, last_checked_at) values ($1, $2, $3::jsonb, $4, $4)
               on conflict (assignment_id) do update set reasons = excluded.reasons, last_checked_at = excluded.last_checked_at`,
            [assignment.id, assignment.organisation, JSON.stringify([reason]), now],
          );
        }
        // Removed since, or matching again: no longer suggested.
        if (resolved.length) await tx.query('delete from portal_role_removal_suggestion where assignment_id = any($1::bigint[])', [resolved]);
      });
    }
    const describe = (f: (typeof found)[number]) => ({ assignment: f.assignment.id, holder: f.assignment.holder, role: f.assignment.role, organisation: f.assignment.organisation, unit: f.assignment.unit, reason: f.reason });
    return {
      assignmentsChecked: assignments.length,
      suggestedCount: found.length,
      newlySuggested: found.filter((f) => !previous.has(f.assignment.id)).map(describe),
      stillSuggested: found.filter((f) => previous.has(f.assignment.id)).map((f) => ({ ...describe(f), since: previous.get(f.assignment.id)!.toISOString() })),
      noLongerSuggested: resolved,
    };
  },
};

/**
 * The current suggestions in an organisation that this principal may act on
 * (role.remove for the role where it is held); refused without the right
 * to see the organisation's people, as its list of assignments is.
 */
export async function roleRemovalSuggestions(db: Database, by: Principal, organisation: string): Promise<RemovalSuggestion[]> {
  authorize(by, 'person.view', { organisation, units: [] });
  const rows = await db.query<Parameters<typeof assignmentFromRow>[0] & { reasons: RemovalReason[]; first_suggested_at: Date }>(
    `select ${ASSIGNMENT_COLUMNS.split(', ').map((c) => `a.${c}`).join(', ')}, s.reasons, s.first_suggested_at
       from portal_role_removal_suggestion s join portal_role_assignment a on a.id = s.assignment_id
      where s.organisation_hsa_id = $1 and a.removed_at is null order by a.holder_hsa_id, a.role`,
    [organisation],
  );
  const suggestions: RemovalSuggestion[] = [];
  for (const row of rows) {
    const assignment = assignmentFromRow(row);
    // A unit closed since leaves only the organisation-wide roles to decide.
    const target = await placeTarget(db, assignment.organisation, assignment.unit, { role: assignment.role }).catch((error: unknown) => {
      if (!(error instanceof PortalRefused)) throw error;
      return { organisation: assignment.organisation, units: [], role: assignment.role };
    });
    if (isOperator(by) || may(by, 'role.remove', target)) suggestions.push({ assignment, reason: row.reasons[0]!, since: row.first_suggested_at });
  }
  return suggestions;
}
