import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { freshSchema } from '../../test/support/schema.ts';
import { databaseTargets } from '../../test/support/stores.ts';
import { migrate, openDatabase, readMigrations, type Database } from '../store/index.ts';
import { loadConfig } from '../config/index.ts';
import { jobsConfigSchema } from './config.ts';
import type { Job } from './job.ts';
import { runJob, type RunnerDependencies } from './runner.ts';
import { listRuns } from './runs.ts';
import { isDue, nextDailyAfter, parseSchedule, ScheduleError } from './schedule.ts';
import { createScheduler, resolveSchedules } from './scheduler.ts';

const log = pino({ level: 'silent' });
const TZ = 'Europe/Stockholm';

describe('schedules', () => {
  it('reads intervals, daily times and off; refuses anything else with the expected forms', () => {
    assert.deepEqual(parseSchedule('every 15m'), { kind: 'every', ms: 900_000 });
    assert.deepEqual(parseSchedule(' every 2h '), { kind: 'every', ms: 7_200_000 });
    assert.deepEqual(parseSchedule('daily 02:30'), { kind: 'daily', hour: 2, minute: 30 });
    assert.deepEqual(parseSchedule('off'), { kind: 'off' });
    for (const bad of ['every 0s', 'every 5', 'daily 24:00', 'daily 2:30', 'hourly', 'every 5 minutes', '']) {
      assert.throws(() => parseSchedule(bad), ScheduleError, bad);
    }
    assert.throws(() => parseSchedule('weekly'), /expected 'every N'.*'daily HH:MM'.*'off'/);
  });

  it('an interval job is due at once the first time, then an interval after its last start', () => {
    const every = parseSchedule('every 10m');
    const seen = new Date('2026-03-01T10:00:00Z');
    assert.equal(isDue(every, null, seen, seen, TZ), true);
    const last = new Date('2026-03-01T10:00:00Z');
    assert.equal(isDue(every, last, seen, new Date('2026-03-01T10:09:59Z'), TZ), false);
    assert.equal(isDue(every, last, seen, new Date('2026-03-01T10:10:00Z'), TZ), true);
    assert.equal(isDue(parseSchedule('off'), null, seen, seen, TZ), false);
  });

  it('a daily job runs at the local time in the zone, across both DST changes, and not on the day it was installed before that time has come', () => {
    // Winter (UTC+1) and summer (UTC+2) in Stockholm.
    assert.equal(nextDailyAfter(new Date('2026-01-10T12:00:00Z'), 2, 30, TZ).toISOString(), '2026-01-11T01:30:00.000Z');
    assert.equal(nextDailyAfter(new Date('2026-07-10T00:00:00Z'), 2, 30, TZ).toISOString(), '2026-07-10T00:30:00.000Z');
    // 29 March 2026: clocks go 02:00 → 03:00, so 02:30 does not exist; the job runs just after the gap, once.
    const spring = nextDailyAfter(new Date('2026-03-28T12:00:00Z'), 2, 30, TZ);
    assert.ok(spring.getTime() >= Date.parse('2026-03-29T01:00:00Z') && spring.getTime() <= Date.parse('2026-03-29T01:30:00Z'), spring.toISOString());
    // 25 October 2026: 02:30 happens twice; the job runs at one of them, and once.
    const autumn = nextDailyAfter(new Date('2026-10-24T12:00:00Z'), 2, 30, TZ);
    assert.equal(autumn.toISOString(), '2026-10-25T01:30:00.000Z');
    assert.equal(nextDailyAfter(new Date('2026-10-25T00:30:00Z'), 2, 30, TZ).toISOString(), '2026-10-25T01:30:00.000Z');
    assert.equal(nextDailyAfter(autumn, 2, 30, TZ).toISOString(), '2026-10-26T01:30:00.000Z');
    const daily = parseSchedule('daily 03:00');
    const installed = new Date('2026-01-10T12:00:00Z');
    assert.equal(isDue(daily, null, installed, new Date('2026-01-10T23:00:00Z'), TZ), false);
    assert.equal(isDue(daily, null, installed, new Date('2026-01-11T02:00:00Z'), TZ), true);
    assert.equal(isDue(daily, new Date('2026-01-11T02:00:00Z'), installed, new Date('2026-01-12T01:59:00Z'), TZ), false);
  });

  it('the config refuses a bad schedule, a bad zone, and (at start) a schedule for a job that does not exist', () => {
    assert.throws(() => jobsConfigSchema.parse({ schedule: { mailSender: 'every now and then' } }), /not a schedule/);
    assert.throws(() => jobsConfigSchema.parse({ timeZone: 'Mars/Olympus' }), /IANA time zone/);
    const fromEnv = loadConfig({ env: { TILLIT_JOBS__SCHEDULE__DIRECTORY_SYNC: 'daily 03:15', TILLIT_JOBS__SCHEDULER: 'false' } }).jobs;
    assert.deepEqual(fromEnv.schedule, { directorySync: 'daily 03:15' });
    assert.equal(fromEnv.scheduler, false);
    const job: Job = { name: 'mail-sender', description: '', defaultSchedule: 'every 1m', run: async () => ({}) };
    assert.equal(resolveSchedules([job], { schedule: { mailSender: 'every 30s' } })[0]!.scheduleText, 'every 30s');
    assert.equal(resolveSchedules([job], { schedule: {} })[0]!.scheduleText, 'every 1m');
    assert.throws(() => resolveSchedules([job], { schedule: { mailSendr: 'off' } }), /jobs\.schedule: no job 'mailSendr' \(this system has: mailSender\)/);
    assert.throws(() => resolveSchedules([job, job], { schedule: {} }), /two jobs are named mail-sender/);
  });
});

/** A job whose runs wait until the test lets them go, counting how many started. */
function gatedJob(name: string) {
  let started = 0;
  let release!: () => void;
  let gate = new Promise<void>((resolve) => (release = resolve));
  let onStart: () => void = () => {};
  const job: Job = {
    name,
    description: 'test job',
    defaultSchedule: 'every 1h',
    async run(context, { dryRun }) {
      started++;
      onStart();
      await gate;
      return { dryRun, runId: context.runId };
    },
  };
  return {
    job,
    started: () => started,
    /** Resolves once a run has started. */
    whenStarted: () => new Promise<void>((resolve) => (onStart = resolve)),
    release: () => {
      release();
      gate = new Promise<void>((resolve) => (release = resolve));
    },
  };
}

for (const target of databaseTargets()) {
  describe(`job runs on ${target.name}`, () => {
    let db: Database;
    let clock = new Date('2026-05-04T08:00:00Z');
    const deps = (node: string, database = db): RunnerDependencies => ({ db: database, log, now: () => clock, node, leaseMs: 60_000 });
    before(async () => (db = await target.open()));
    after(() => db?.close());

    it('records a run with its node, trigger, times, dry-run flag, outcome and summary', async () => {
      const job: Job = { name: 'count-things', description: '', defaultSchedule: 'every 1h', run: async (_context, { dryRun }) => ({ counted: 3, dryRun }) };
      const result = await runJob(deps('node-a'), job, { trigger: 'manual', dryRun: true });
      assert.equal(result.status, 'succeeded');
      const [run] = await listRuns(db, { job: 'count-things' });
      assert.equal(run!.node, 'node-a');
      assert.equal(run!.trigger, 'manual');
      assert.equal(run!.dryRun, true);
      assert.equal(run!.outcome, 'succeeded');
      assert.deepEqual(run!.summary, { counted: 3, dryRun: true });
      assert.equal(run!.startedAt.toISOString(), clock.toISOString());
      assert.ok(run!.finishedAt);
      assert.equal(run!.error, null);
    });

    it('a job that throws is recorded as failed with its message, and frees the job for the next run', async () => {
      let fail = true;
      const job: Job = {
        name: 'flaky',
        description: '',
        defaultSchedule: 'every 1h',
        run: async () => {
          if (fail) throw new Error('catalogue unreachable');
          return { ok: true };
        },
      };
      const failed = await runJob(deps('node-a'), job, { trigger: 'manual', dryRun: false });
      assert.deepEqual(failed.status, 'failed');
      fail = false;
      assert.equal((await runJob(deps('node-a'), job, { trigger: 'manual', dryRun: false })).status, 'succeeded');
      const runs = await listRuns(db, { job: 'flaky' });
      assert.deepEqual(runs.map((r) => [r.outcome, r.error]), [['succeeded', null], ['failed', 'catalogue unreachable']]);
    });

    it('a run by hand is refused while the job runs, and the scheduler does not start it twice', async () => {
      const gated = gatedJob('slow');
      const started = gated.whenStarted();
      const first = runJob(deps('node-a'), gated.job, { trigger: 'manual', dryRun: false });
      await started;
      const second = await runJob(deps('node-b'), gated.job, { trigger: 'manual', dryRun: true });
      assert.equal(second.status, 'busy');
      gated.release();
      assert.equal((await first).status, 'succeeded');
      assert.equal(gated.started(), 1);
      assert.equal((await listRuns(db, { job: 'slow' })).length, 1);
    });

    it('a run whose node died (lease not renewed) is recorded as abandoned and the job runs again', async () => {
      // A claim made and never finished, as by a node that died mid-run.
      const gated = gatedJob('orphaned');
      const started = gated.whenStarted();
      const dying = runJob({ ...deps('node-dead'), leaseMs: 60_000 }, gated.job, { trigger: 'manual', dryRun: false });
      await started;
      assert.equal((await runJob(deps('node-b'), gated.job, { trigger: 'manual', dryRun: false })).status, 'busy');
      clock = new Date(clock.getTime() + 61_000);
      const job: Job = { ...gated.job, run: async () => ({ recovered: true }) };
      assert.equal((await runJob(deps('node-b'), job, { trigger: 'manual', dryRun: false })).status, 'succeeded');
      const runs = await listRuns(db, { job: 'orphaned' });
      assert.deepEqual(runs.map((r) => [r.node, r.outcome]), [['node-b', 'succeeded'], ['node-dead', 'abandoned']]);
      gated.release();
      await dying;
      // The late finish of the abandoned run does not overwrite its record.
      assert.equal((await listRuns(db, { job: 'orphaned' }))[1]!.outcome, 'abandoned');
    });

    it('the scheduler runs a job when due and again only an interval later', async () => {
      let runs = 0;
      const job: Job = { name: 'tidy', description: '', defaultSchedule: 'every 10m', run: async () => ({ run: ++runs }) };
      const scheduler = createScheduler(deps('node-a'), resolveSchedules([job], { schedule: {} }), { timeZone: TZ });
      await scheduler.tick();
      assert.equal(runs, 1);
      clock = new Date(clock.getTime() + 9 * 60_000);
      await scheduler.tick();
      assert.equal(runs, 1, 'not due before ten minutes');
      clock = new Date(clock.getTime() + 60_000);
      await scheduler.tick();
      assert.equal(runs, 2);
      const off = createScheduler(deps('node-a'), resolveSchedules([job], { schedule: { tidy: 'off' } }), { timeZone: TZ });
      clock = new Date(clock.getTime() + 3_600_000);
      await off.tick();
      assert.equal(runs, 2, 'a job switched off does not run');
      const records = await listRuns(db, { job: 'tidy' });
      assert.ok(records.every((r) => r.trigger === 'schedule'));
    });
  });
}

/** Two pools on one fresh schema: two nodes of one installation. */
async function twoNodes(url: string): Promise<{ a: Database; b: Database; close(): Promise<void> }> {
  const schema = await freshSchema(url, 'test');
  const open = () => openDatabase({ dataDir: 'memory://', database: { url: schema.url, poolSize: 4 } });
  const a = await open();
  const b = await open();
  await migrate(a, await readMigrations());
  return {
    a,
    b,
    async close() {
      await a.close();
      await b.close();
      await schema.drop();
    },
  };
}

const url = process.env['DATABASE_URL'];
describe('two nodes on PostgreSQL', { skip: url ? false : 'DATABASE_URL is not set' }, () => {
  let nodes: Awaited<ReturnType<typeof twoNodes>>;
  const clock = new Date('2026-05-04T08:00:00Z');
  before(async () => (nodes = await twoNodes(url!)));
  after(() => nodes?.close());

  it('two schedulers on two connections that start the same due job at once run it once', async () => {
    for (let round = 0; round < 20; round++) {
      const gated = gatedJob(`nightly-${round}`);
      const scheduled = resolveSchedules([gated.job], { schedule: {} });
      const schedulerA = createScheduler({ db: nodes.a, log, now: () => clock, node: 'node-a', leaseMs: 60_000 }, scheduled, { timeZone: TZ });
      const schedulerB = createScheduler({ db: nodes.b, log, now: () => clock, node: 'node-b', leaseMs: 60_000 }, scheduled, { timeZone: TZ });
      const started = gated.whenStarted();
      const ticks = Promise.all([schedulerA.tick(), schedulerB.tick()]);
      await started;
      gated.release();
      const results = (await ticks).flat().map((r) => r.status).sort();
      assert.equal(gated.started(), 1, `round ${round}: ran once`);
      assert.equal(results.filter((s) => s === 'succeeded').length, 1);
      assert.ok(results.every((s) => s === 'succeeded' || s === 'busy' || s === 'not due'), results.join());
      const runs = await listRuns(nodes.a, { job: gated.job.name });
      assert.equal(runs.length, 1);
    }
  });

  it('a job that finishes at once is not run again by the node that comes second', async () => {
    let runs = 0;
    const job: Job = { name: 'quick', description: '', defaultSchedule: 'every 1h', run: async () => ({ run: ++runs }) };
    const scheduled = resolveSchedules([job], { schedule: {} });
    const a = createScheduler({ db: nodes.a, log, now: () => clock, node: 'node-a', leaseMs: 60_000 }, scheduled, { timeZone: TZ });
    const b = createScheduler({ db: nodes.b, log, now: () => clock, node: 'node-b', leaseMs: 60_000 }, scheduled, { timeZone: TZ });
    await a.tick();
    await b.tick();
    await Promise.all([a.tick(), b.tick()]);
    assert.equal(runs, 1);
  });
});
