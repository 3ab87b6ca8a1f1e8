/**
 * Scheduled jobs: a job is a named plain function a part lists in
 * `Part.jobs`; the scheduler in each server process runs the due ones, one
 * node at a time (claimed in PostgreSQL), and records every run; `tillit
 * jobs run NAME` runs one by hand under the same claim.
 */
export type { Job, JobRunContext, JobSummary } from './job.ts';
export { jobsConfigSchema, type JobsConfig } from './config.ts';
export { parseSchedule, nextRun, ScheduleError, type Schedule } from './schedule.ts';
export { runJob, thisNode, type RunResult, type RunnerDependencies } from './runner.ts';
export { resolveSchedules, createScheduler, startScheduler, type Scheduler, type ScheduledJob } from './scheduler.ts';
export { listRuns, findRun, lastCompletedRun, type JobRun, type JobOutcome, type JobTrigger } from './runs.ts';
export { registerJobCommands, JobCommandError, type JobsCommandContext } from './cli.ts';
