import { Command, InvalidArgumentError } from 'commander';
import type { Logger } from 'pino';
import type { Config } from '../config/index.ts';
import type { Database } from '../store/index.ts';
import type { Job } from './job.ts';
import { runJob, thisNode } from './runner.ts';
import { findRun, jobStates, listRuns, type JobRun } from './runs.ts';
import { nextRun } from './schedule.ts';
import { resolveSchedules } from './scheduler.ts';

/** What the job commands need: the stores and every job of the parts this config runs. */
export interface JobsCommandContext {
  readonly config: Config;
  readonly db: Database;
  readonly log: Logger;
  readonly now: () => Date;
  readonly jobs: readonly Job[];
  close(): Promise<void>;
}

/** A job run by hand that could not run, or failed: one line, exit 1. */
export class JobCommandError extends Error {
  override readonly name = 'JobCommandError';
}

const positiveInt = (value: string) => {
  if (!/^\d{1,6}$/.test(value) || Number(value) < 1) throw new InvalidArgumentError('expected a whole number from 1');
  return Number(value);
};

/** `tillit jobs list|run|runs|show`. `write` is for tests. */
export function registerJobCommands(program: Command, open: (command: Command) => Promise<JobsCommandContext>, write: (text: string) => void = (t) => process.stdout.write(t)): void {
  const print = (line: string) => write(`${line}\n`);
  const jobs = program.command('jobs').description('scheduled jobs: list them, run one by hand, read their runs');

  const using = async <T>(command: Command, work: (context: JobsCommandContext) => Promise<T>): Promise<T> => {
    const context = await open(command);
    try {
      return await work(context);
    } finally {
      await context.close();
    }
  };

  jobs
    .command('list')
    .description('every job with its schedule, its last run and when it is due next')
    .option('--json', 'print JSON')
    .action((options: { json?: boolean }, command: Command) =>
      using(command, async (context) => {
        const scheduled = resolveSchedules(context.jobs, context.config.jobs);
        const states = await jobStates(context.db);
        const rows = [];
        for (const { job, schedule, scheduleText } of scheduled) {
          const [lastRun] = await listRuns(context.db, { job: job.name, limit: 1 });
          const state = states.get(job.name);
          const next = nextRun(schedule, state?.lastScheduledAt ?? null, state?.firstSeenAt ?? context.now(), context.config.jobs.timeZone);
          rows.push({ name: job.name, description: job.description, schedule: scheduleText, nextDue: next?.toISOString() ?? null, lastRun: lastRun ?? null });
        }
        if (options.json) return print(JSON.stringify(rows));
        const nameWidth = Math.max(0, ...rows.map((row) => row.name.length));
        const scheduleWidth = Math.max(0, ...rows.map((row) => row.schedule.length));
        for (const row of rows) {
          print(`${row.name.padEnd(nameWidth)}  ${row.schedule.padEnd(scheduleWidth)}  next ${row.nextDue ?? '—'}   ${row.description}`);
          print(`${''.padEnd(nameWidth)}  last: ${row.lastRun ? runLine(row.lastRun) : 'never run'}`);
        }
      }),
    );

  jobs
    .command('run')
    .description('run one job now, under the same lock as the scheduler (refused while another node runs it)')
    .argument('<name>', 'the job (see tillit jobs list)')
    .option('--dry-run', 'change nothing; report what the job would do')
    .option('--json', 'print the run record as JSON')
    .action((name: string, options: { dryRun?: boolean; json?: boolean }, command: Command) =>
      using(command, async (context) => {
        const job = context.jobs.find((j) => j.name === name);
        if (!job) throw new JobCommandError(`no job ${JSON.stringify(name)}; this system has: ${context.jobs.map((j) => j.name).join(', ') || 'none'}`);
        const result = await runJob({ db: context.db, log: context.log, now: context.now, node: thisNode(), leaseMs: context.config.jobs.leaseSeconds * 1_000 }, job, {
          trigger: 'manual',
          dryRun: options.dryRun ?? false,
        });
        if (result.status === 'busy') throw new JobCommandError(`job ${name} is running${result.runningRunId ? ` (run ${result.runningRunId})` : ''}; try again when it has finished`);
        if (result.status === 'not due') throw new Error('unreachable: a manual run is never refused as not due');
        const run = (await findRun(context.db, result.runId))!;
        if (options.json) print(JSON.stringify(run));
        else {
          print(runLine(run));
          if (run.summary) print(JSON.stringify(run.summary, null, 2));
        }
        if (result.status === 'failed') throw new JobCommandError(`job ${name} failed: ${result.error}`);
      }),
    );

  jobs
    .command('runs')
    .description('the latest runs, newest first')
    .option('--job <name>', 'only this job')
    .option('--limit <n>', 'how many', positiveInt, 20)
    .option('--json', 'print JSON (with each summary)')
    .action((options: { job?: string; limit: number; json?: boolean }, command: Command) =>
      using(command, async (context) => {
        const runs = await listRuns(context.db, { ...(options.job ? { job: options.job } : {}), limit: options.limit });
        if (options.json) return print(JSON.stringify(runs));
        if (!runs.length) return print('no runs');
        for (const run of runs) print(runLine(run));
      }),
    );

  jobs
    .command('show')
    .description("one run with its whole summary (e.g. the eIDs whose holder is missing from the directory)")
    .argument('<run>', 'run id (see tillit jobs runs)', positiveInt)
    .action((id: number, _options: unknown, command: Command) =>
      using(command, async (context) => {
        const run = await findRun(context.db, id);
        if (!run) throw new JobCommandError(`no run ${id}`);
        print(JSON.stringify(run, null, 2));
      }),
    );
}

function runLine(run: JobRun): string {
  const took = run.finishedAt ? ` in ${((run.finishedAt.getTime() - run.startedAt.getTime()) / 1000).toFixed(1)} s` : '';
  return `run ${run.id} ${run.job} ${run.outcome}${run.dryRun ? ' (dry run)' : ''}${took}, started ${run.startedAt.toISOString()} by ${run.trigger} on ${run.node}${run.error ? `: ${run.error}` : ''}`;
}
