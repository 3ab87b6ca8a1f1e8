import type { Database, Queryable } from '../store/index.ts';
import { isDue, type Schedule } from './schedule.ts';

export type JobTrigger = 'schedule' | 'manual';
export type JobOutcome = 'running' | 'succeeded' | 'failed' | 'abandoned';

export interface JobRun {
  readonly id: number;
  readonly job: string;
  readonly node: string;
  readonly trigger: JobTrigger;
  readonly dryRun: boolean;
  readonly startedAt: Date;
  readonly finishedAt: Date | null;
  readonly outcome: JobOutcome;
  readonly summary: Record<string, unknown> | null;
  readonly error: string | null;
}

export type Claim =
  | { readonly claimed: true; readonly runId: number }
  | { readonly claimed: false; readonly reason: 'busy'; readonly runningRunId: number | null }
  | { readonly claimed: false; readonly reason: 'not due' };

export interface ClaimRequest {
  readonly job: string;
  readonly node: string;
  readonly trigger: JobTrigger;
  readonly dryRun: boolean;
  readonly now: Date;
  readonly leaseMs: number;
  /** For scheduled claims: claim only when the schedule says the job is due. */
  readonly due?: { readonly schedule: Schedule; readonly timeZone: string };
}

/**
 * Takes the job for one run, in one short transaction. The job's state row
 * is locked `for update skip locked`: a node that finds it locked, or held
 * by a run whose lease has not expired, leaves the job alone, so two nodes
 * starting the same job at once run it once. A scheduled claim also moves
 * the schedule on, so the node that comes second finds it no longer due.
 * A run whose lease expired (its node died) is recorded as abandoned.
 */
export async function claimJob(db: Database, request: ClaimRequest): Promise<Claim> {
  const { job, now } = request;
  await db.query('insert into job_state (job, first_seen_at) values ($1, $2) on conflict (job) do nothing', [job, now]);
  return db.transaction(async (tx): Promise<Claim> => {
    const [state] = await tx.query<{ first_seen_at: Date; last_scheduled_at: Date | null; running_run_id: number | null; lease_until: Date | null }>(
      'select first_seen_at, last_scheduled_at, running_run_id, lease_until from job_state where job = $1 for update skip locked',
      [job],
    );
    if (!state) return { claimed: false, reason: 'busy', runningRunId: null };
    if (state.running_run_id !== null && state.lease_until && state.lease_until.getTime() > now.getTime()) return { claimed: false, reason: 'busy', runningRunId: state.running_run_id };
    if (request.due && !isDue(request.due.schedule, state.last_scheduled_at, state.first_seen_at, now, request.due.timeZone)) return { claimed: false, reason: 'not due' };
    if (state.running_run_id !== null) {
      await tx.query(`update job_run set outcome = 'abandoned', finished_at = $2, error = 'the node running it stopped renewing its lease' where id = $1 and outcome = 'running'`, [state.running_run_id, now]);
    }
    const [run] = await tx.query<{ id: number }>(
      `insert into job_run (job, node, trigger, dry_run, started_at, outcome) values ($1, $2, $3, $4, $5, 'running') returning id`,
      [job, request.node, request.trigger, request.dryRun, now],
    );
    await tx.query(
      `update job_state set running_run_id = $2, lease_until = $3, last_scheduled_at = case when $4 then $5 else last_scheduled_at end where job = $1`,
      [job, run!.id, new Date(now.getTime() + request.leaseMs), request.trigger === 'schedule', now],
    );
    return { claimed: true, runId: run!.id };
  });
}

/** Keeps the job held while its run goes on. */
export async function renewLease(db: Queryable, job: string, runId: number, until: Date): Promise<void> {
  await db.query('update job_state set lease_until = $3 where job = $1 and running_run_id = $2', [job, runId, until]);
}

/** Records how the run ended and lets the job go. */
export async function finishRun(db: Database, job: string, runId: number, result: { outcome: 'succeeded' | 'failed'; finishedAt: Date; summary: unknown; error: string | null }): Promise<void> {
  await db.transaction(async (tx) => {
    await tx.query(`update job_run set outcome = $2, finished_at = $3, summary = $4, error = $5 where id = $1 and outcome = 'running'`, [
      runId,
      result.outcome,
      result.finishedAt,
      result.summary === null ? null : JSON.stringify(result.summary),
      result.error,
    ]);
    await tx.query('update job_state set running_run_id = null, lease_until = null where job = $1 and running_run_id = $2', [job, runId]);
  });
}

const RUN_COLUMNS = `id, job, node, trigger, dry_run as "dryRun", started_at as "startedAt", finished_at as "finishedAt", outcome, summary, error`;

/** The latest runs, newest first, of one job or of all. */
export function listRuns(db: Queryable, options: { job?: string; limit?: number } = {}): Promise<JobRun[]> {
  return db.query<JobRun>(`select ${RUN_COLUMNS} from job_run where ($1::text is null or job = $1) order by id desc limit $2`, [options.job ?? null, options.limit ?? 20]);
}

export async function findRun(db: Queryable, id: number): Promise<JobRun | undefined> {
  const [run] = await db.query<JobRun>(`select ${RUN_COLUMNS} from job_run where id = $1`, [id]);
  return run;
}

/** The newest finished run of `job` that was not a dry run, with its summary: what the portal shows as the job's current result. */
export async function lastCompletedRun(db: Queryable, job: string): Promise<JobRun | undefined> {
  const [run] = await db.query<JobRun>(`select ${RUN_COLUMNS} from job_run where job = $1 and outcome = 'succeeded' and not dry_run order by id desc limit 1`, [job]);
  return run;
}

export interface JobStateRow {
  readonly job: string;
  readonly firstSeenAt: Date;
  readonly lastScheduledAt: Date | null;
  readonly runningRunId: number | null;
}

export async function jobStates(db: Queryable): Promise<Map<string, JobStateRow>> {
  const rows = await db.query<JobStateRow>(`select job, first_seen_at as "firstSeenAt", last_scheduled_at as "lastScheduledAt", running_run_id as "runningRunId" from job_state`);
  return new Map(rows.map((row) => [row.job, row]));
}
