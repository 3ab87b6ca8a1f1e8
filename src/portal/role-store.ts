import type { Database } from '../store/index.ts';
import { ASSIGNMENT_COLUMNS, assignmentFromRow, authorize, placeTarget, serviceIdentityHolder, type Principal } from './access.ts';
import { appendAudit } from './audit.ts';
import { PortalRefused } from './errors.ts';
import type { Role, RoleAssignment } from './roles.ts';

export interface Appointment {
  readonly holder: string;
  readonly role: Role;
  readonly organisation: string;
  readonly unit: string | null;
  readonly trainedOn: Date | null;
}

const snapshot = (a: RoleAssignment) => ({ holder: a.holder, role: a.role, organisation: a.organisation, unit: a.unit, trainedOn: a.trainedOn });

/** Gives a holder a role; the holder must be a current service identity, the unit one of the organisation's. */
export async function appointRole(db: Database, by: Principal, appointment: Appointment, now: Date): Promise<RoleAssignment> {
  if (appointment.trainedOn && appointment.role !== 'id-administrator') throw new PortalRefused('invalid', 'a training date belongs only to an ID administrator');
  if (appointment.trainedOn && appointment.trainedOn.getTime() > now.getTime()) throw new PortalRefused('invalid', 'the training date is in the future');
  const target = await placeTarget(db, appointment.organisation, appointment.unit, { role: appointment.role });
  const recorded = authorize(by, 'role.appoint', target);
  await serviceIdentityHolder(db, appointment.holder);
  return db.transaction(async (tx) => {
    const [existing] = await tx.query(
      `select 1 from portal_role_assignment where holder_hsa_id = $1 and role = $2 and organisation_hsa_id = $3 and coalesce(unit_hsa_id, '') = coalesce($4, '') and removed_at is null`,
      [appointment.holder, appointment.role, appointment.organisation, appointment.unit],
    );
    if (existing) throw new PortalRefused('conflict', `${appointment.holder} already holds ${appointment.role} for ${appointment.unit ?? appointment.organisation}`);
    const [row] = await tx.query<Parameters<typeof assignmentFromRow>[0]>(
      `insert into portal_role_assignment (holder_hsa_id, role, organisation_hsa_id, unit_hsa_id, trained_on, appointed_by, appointed_at)
         values ($1, $2, $3, $4, $5, $6, $7) returning ${ASSIGNMENT_COLUMNS}`,
      [appointment.holder, appointment.role, appointment.organisation, appointment.unit, appointment.trainedOn, recorded.actor, now],
    );
    const assignment = assignmentFromRow(row!);
    await appendAudit(tx, { ...recorded, action: 'role.appoint', target: `role-assignment:${assignment.id}`, before: null, after: snapshot(assignment) }, now);
    return assignment;
  });
}

async function currentAssignment(db: Database, id: number): Promise<RoleAssignment> {
  const [row] = await db.query<Parameters<typeof assignmentFromRow>[0]>(`select ${ASSIGNMENT_COLUMNS} from portal_role_assignment where id = $1 and removed_at is null`, [id]);
  if (!row) throw new PortalRefused('not-found', `no current role assignment ${id}`);
  return assignmentFromRow(row);
}

/** Ends an assignment (kept, with who ended it and when). */
export async function removeRole(db: Database, by: Principal, id: number, now: Date): Promise<void> {
  const assignment = await currentAssignment(db, id);
  const recorded = authorize(by, 'role.remove', await placeTarget(db, assignment.organisation, assignment.unit, { role: assignment.role }));
  await db.transaction(async (tx) => {
    const changed = await tx.query(`update portal_role_assignment set removed_at = $2, removed_by = $3 where id = $1 and removed_at is null returning id`, [id, now, recorded.actor]);
    if (changed.length === 0) throw new PortalRefused('conflict', `role assignment ${id} was removed meanwhile`);
    await appendAudit(tx, { ...recorded, action: 'role.remove', target: `role-assignment:${id}`, before: snapshot(assignment), after: null }, now);
  });
}

/** Records an ID administrator's new training date (appointing right needed, like the role itself). */
export async function recordTraining(db: Database, by: Principal, id: number, trainedOn: Date, now: Date): Promise<RoleAssignment> {
  const assignment = await currentAssignment(db, id);
  if (assignment.role !== 'id-administrator') throw new PortalRefused('invalid', `role assignment ${id} is ${assignment.role}; a training date belongs only to an ID administrator`);
  if (trainedOn.getTime() > now.getTime()) throw new PortalRefused('invalid', 'the training date is in the future');
  const recorded = authorize(by, 'role.appoint', await placeTarget(db, assignment.organisation, assignment.unit, { role: assignment.role }));
  return db.transaction(async (tx) => {
    const [row] = await tx.query<Parameters<typeof assignmentFromRow>[0]>(`update portal_role_assignment set trained_on = $2 where id = $1 and removed_at is null returning ${ASSIGNMENT_COLUMNS}`, [id, trainedOn]);
    if (!row) throw new PortalRefused('conflict', `role assignment ${id} was removed meanwhile`);
    const updated = assignmentFromRow(row);
    await appendAudit(tx, { ...recorded, action: 'role.training', target: `role-assignment:${id}`, before: snapshot(assignment), after: snapshot(updated) }, now);
    return updated;
  });
}

/** Current assignments in an organisation (all organisations when null). */
export async function listAssignments(db: Database, organisation: string | null): Promise<RoleAssignment[]> {
  const rows = await db.query<Parameters<typeof assignmentFromRow>[0]>(
    `select ${ASSIGNMENT_COLUMNS} from portal_role_assignment where removed_at is null and ($1::text is null or organisation_hsa_id = $1) order by organisation_hsa_id, holder_hsa_id, role`,
    [organisation],
  );
  return rows.map(assignmentFromRow);
}
