import { hostname } from 'node:os';
import type { Logger } from 'pino';
import type { Database } from '../store/index.ts';
import type { Job, JobSummary } from './job.ts';
import { claimJob, finishRun, renewLease, type JobTrigger } from './runs.ts';
import type { Schedule } from './schedule.ts';

export interface RunnerDependencies {
  readonly db: Database;
  readonly log: Logger;
  readonly now: () => Date;
  /** This process, as run records name it. */
  readonly node: string;
  readonly leaseMs: number;
}

export type RunResult =
  | { readonly status: 'succeeded'; readonly runId: number; readonly summary: JobSummary }
  | { readonly status: 'failed'; readonly runId: number; readonly error: string }
  | { readonly status: 'busy'; readonly runningRunId: number | null }
  | { readonly status: 'not due' };

/** The name run records give this process: host and pid. */
export function thisNode(): string {
  return `${hostname()}:${process.pid}`;
}

/**
 * Runs `job` once if it can take it (see claimJob), renewing its lease
 * while it runs, and records the outcome. A job that throws is recorded as
 * failed with its message; the error does not escape, since a scheduler
 * must go on with the other jobs.
 */
export async function runJob(
  deps: RunnerDependencies,
  job: Job,
  options: { readonly trigger: JobTrigger; readonly dryRun: boolean; readonly due?: { readonly schedule: Schedule; readonly timeZone: string } },
): Promise<RunResult> {
  const claim = await claimJob(deps.db, { job: job.name, node: deps.node, trigger: options.trigger, dryRun: options.dryRun, now: deps.now(), leaseMs: deps.leaseMs, ...(options.due ? { due: options.due } : {}) });
  if (!claim.claimed) return claim.reason === 'busy' ? { status: 'busy', runningRunId: claim.runningRunId } : { status: 'not due' };
  const { runId } = claim;
  const log = deps.log.child({ job: job.name, runId, dryRun: options.dryRun });
  const renewal = setInterval(() => {
    renewLease(deps.db, job.name, runId, new Date(deps.now().getTime() + deps.leaseMs)).catch((error: unknown) => log.warn({ err: error }, 'job lease renewal failed'));
  }, Math.max(1_000, Math.floor(deps.leaseMs / 3)));
  renewal.unref();
  log.debug({ trigger: options.trigger }, 'job started');
  try {
    const summary = await job.run({ db: deps.db, log, now: deps.now, runId }, { dryRun: options.dryRun });
    await finishRun(deps.db, job.name, runId, { outcome: 'succeeded', finishedAt: deps.now(), summary, error: null });
    log.info('job finished');
    return { status: 'succeeded', runId, summary };
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    log.error({ err: error }, 'job failed');
    await finishRun(deps.db, job.name, runId, { outcome: 'failed', finishedAt: deps.now(), summary: null, error: message });
    return { status: 'failed', runId, error: message };
  } finally {
    clearInterval(renewal);
  }
}
