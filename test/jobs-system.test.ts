import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError } from '../src/config/index.ts';
import { listRuns, type Job } from '../src/jobs/index.ts';
import { createMailPart } from '../src/mail/index.ts';
import type { PartFactory } from '../src/server/index.ts';
import { startTestSystem } from './support/system.ts';

/** A part with one job that tells the test when it has run. */
function probePart(onRun: () => void): PartFactory {
  const job: Job = {
    name: 'probe',
    description: 'tells the test it ran',
    defaultSchedule: 'every 1h',
    async run() {
      onRun();
      return { probed: true };
    },
  };
  return async () => ({ name: 'probe', title: { sv: 'Prov', en: 'Probe' }, description: { sv: '', en: '' }, links: [], jobs: [job] });
}

describe('the scheduler in the server process', () => {
  it("runs the parts' due jobs after start, records them, and lets them finish on stop", async () => {
    let ran!: () => void;
    const done = new Promise<void>((resolve) => (ran = resolve));
    const available = new Map<string, PartFactory>([
      ['mail', createMailPart],
      ['probe', probePart(() => ran())],
    ]);
    const system = await startTestSystem({ demo: { seed: false } }, available);
    try {
      await done;
      let runs = await listRuns(system.db, { job: 'probe' });
      // The run is recorded just after the job returns.
      for (let i = 0; i < 500 && runs[0]?.outcome !== 'succeeded'; i++) {
        await new Promise((resolve) => setTimeout(resolve, 10));
        runs = await listRuns(system.db, { job: 'probe' });
      }
      assert.equal(runs.length, 1);
      assert.equal(runs[0]!.trigger, 'schedule');
      assert.deepEqual(runs[0]!.summary, { probed: true });
    } finally {
      await system.stop();
    }
  });

  it('refuses to start when jobs.schedule names a job no part has', async () => {
    const available = new Map<string, PartFactory>([['probe', probePart(() => {})]]);
    await assert.rejects(startTestSystem({ demo: { seed: false }, jobs: { schedule: { prob: 'off' } } }, available), (error: Error) => error instanceof ConfigError && /jobs\.schedule: no job 'prob' \(this system has: probe\)/.test(error.message));
  });
});
