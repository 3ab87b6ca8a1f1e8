import { ConfigError } from '../config/index.ts';
import type { JobsConfig } from './config.ts';
import { JOB_NAME, scheduleKey, type Job } from './job.ts';
import { runJob, type RunnerDependencies, type RunResult } from './runner.ts';
import { parseSchedule, type Schedule } from './schedule.ts';

export interface ScheduledJob {
  readonly job: Job;
  readonly schedule: Schedule;
  /** As written: `every 5m`, `daily 02:30`, `off`. */
  readonly scheduleText: string;
}

/**
 * Every job with its effective schedule. Refuses two jobs of one name, a
 * malformed name, and a `jobs.schedule` key that names no job (a typo would
 * otherwise leave a job on its default without a word).
 */
export function resolveSchedules(jobs: readonly Job[], config: Pick<JobsConfig, 'schedule'>): ScheduledJob[] {
  const byKey = new Map<string, Job>();
  for (const job of jobs) {
    if (!JOB_NAME.test(job.name)) throw new Error(`job name ${JSON.stringify(job.name)} must be kebab-case`);
    if (byKey.has(scheduleKey(job.name))) throw new Error(`two jobs are named ${job.name}`);
    byKey.set(scheduleKey(job.name), job);
  }
  const unknown = Object.keys(config.schedule).filter((key) => !byKey.has(key));
  if (unknown.length) {
    throw new ConfigError(`invalid configuration: jobs.schedule: no job ${unknown.map((k) => `'${k}'`).join(', ')} (this system has: ${[...byKey.keys()].join(', ') || 'none'})`);
  }
  return jobs.map((job) => {
    const scheduleText = config.schedule[scheduleKey(job.name)] ?? job.defaultSchedule;
    return { job, schedule: parseSchedule(scheduleText), scheduleText };
  });
}

export interface Scheduler {
  /** Looks once for due jobs and starts them; resolves when the runs it started have ended (tests call this directly). */
  tick(): Promise<RunResult[]>;
  /** No new runs; waits for those in flight. */
  stop(): Promise<void>;
}

/**
 * Runs each job on its schedule in this process. Every node may run a
 * scheduler: the claim in the database decides which node runs a due job.
 * A job still running here is not started again by this node.
 */
export function createScheduler(deps: RunnerDependencies, jobs: readonly ScheduledJob[], config: Pick<JobsConfig, 'timeZone'>): Scheduler {
  const inFlight = new Map<string, Promise<RunResult>>();
  let stopped = false;

  function start(entry: ScheduledJob): Promise<RunResult> {
    const running = runJob(deps, entry.job, { trigger: 'schedule', dryRun: false, due: { schedule: entry.schedule, timeZone: config.timeZone } })
      .catch((error: unknown): RunResult => {
        deps.log.error({ err: error, job: entry.job.name }, 'job could not be claimed or recorded');
        return { status: 'not due' };
      })
      .finally(() => inFlight.delete(entry.job.name));
    inFlight.set(entry.job.name, running);
    return running;
  }

  return {
    tick() {
      if (stopped) return Promise.resolve([]);
      return Promise.all(jobs.filter((entry) => entry.schedule.kind !== 'off' && !inFlight.has(entry.job.name)).map(start));
    },
    async stop() {
      stopped = true;
      await Promise.all(inFlight.values());
    },
  };
}

/** A scheduler that ticks every `tickMs` until stopped. */
export function startScheduler(deps: RunnerDependencies, jobs: readonly ScheduledJob[], config: Pick<JobsConfig, 'timeZone' | 'tickSeconds'>): Scheduler {
  const scheduler = createScheduler(deps, jobs, config);
  const timer = setInterval(() => void scheduler.tick(), config.tickSeconds * 1_000);
  timer.unref();
  // The first look right away, so a due job need not wait a whole tick after a start.
  void scheduler.tick();
  return {
    tick: scheduler.tick,
    async stop() {
      clearInterval(timer);
      await scheduler.stop();
    },
  };
}
