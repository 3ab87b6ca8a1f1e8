import type { Logger } from 'pino';
import type { Database } from '../store/index.ts';

/** What a run of a job gets: the durable store, a logger bound to the run, the clock. */
export interface JobRunContext {
  readonly db: Database;
  readonly log: Logger;
  readonly now: () => Date;
  readonly runId: number;
}

/** What a run did, as JSON: counts and lists a person can read (`tillit jobs show`). */
export type JobSummary = Record<string, unknown>;

/**
 * A scheduled job: a named plain function. A part lists its jobs in
 * `Part.jobs`; the scheduler runs each on its schedule (the config's
 * `jobs.schedule.<name>` or `defaultSchedule`), one node at a time, and
 * records every run. With `dryRun` a job changes nothing and says what it
 * would have done.
 */
export interface Job {
  /** kebab-case, unique in the system: `mail-sender`, `directory-sync`. */
  readonly name: string;
  readonly description: string;
  /** `every 5m`, `daily 02:30` or `off` (see schedule.ts). */
  readonly defaultSchedule: string;
  run(context: JobRunContext, options: { readonly dryRun: boolean }): Promise<JobSummary>;
}

/** The config key of a job's schedule: `directory-sync` → `directorySync` (so TILLIT_JOBS__SCHEDULE__DIRECTORY_SYNC works). */
export function scheduleKey(jobName: string): string {
  return jobName.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

export const JOB_NAME = /^[a-z][a-z0-9]*(-[a-z0-9]+)*$/;
