import type { Database } from '../store/index.ts';
import { applyPlan, finishRun, loadCurrentState, startRun, type StateScope } from './store-sql.ts';
import { planSync, summarise, type CatalogueBatch, type PresentKeys, type Refusal, type SyncCounts, type SyncPlan } from './sync-plan.ts';

export type CatalogueSyncMode = 'full' | 'incremental' | 'reconcile';

export interface CatalogueSyncReport {
  readonly runId: number;
  readonly mode: CatalogueSyncMode;
  readonly dryRun: boolean;
  readonly startedAt: Date;
  readonly finishedAt: Date;
  readonly counts: SyncCounts;
  readonly refused: readonly Refusal[];
  /** The highest modifyTimestamp seen; the next incremental run asks for changes from here. */
  readonly watermark: string | null;
}

/** Only one catalogue sync writes at a time, across every node sharing the database. */
const SYNC_LOCK_KEY = 7_342_114_200;

/** Where a run's time went, in milliseconds: for the benchmark and for tuning, not part of the stored report. */
export interface ApplyDurations {
  /** Reading the directory's current rows to compare against. */
  readonly loadMs: number;
  /** Comparing (pure). */
  readonly planMs: number;
  /** Writing the plan, its history and the run record. */
  readonly writeMs: number;
}

export interface ApplyOptions {
  readonly mode: CatalogueSyncMode;
  readonly now: () => Date;
  readonly dryRun?: boolean;
  readonly watermark: string | null;
  /** Entries the source edge could not read at all; reported with the plan's own refusals. */
  readonly refused: readonly Refusal[];
}

/**
 * Plans and applies one batch from the catalogue in a single transaction,
 * under a lock, and records the run with its report. A dry run plans the
 * same way and writes only its report; the plan is returned for printing.
 */
export async function applyCatalogueBatch(
  db: Database,
  batch: CatalogueBatch,
  present: PresentKeys | undefined,
  scope: StateScope,
  options: ApplyOptions,
): Promise<{ report: CatalogueSyncReport; plan: SyncPlan; durations: ApplyDurations }> {
  const startedAt = options.now();
  return db.transaction(async (tx) => {
    await tx.query('select pg_advisory_xact_lock($1)', [SYNC_LOCK_KEY]);
    const t0 = performance.now();
    const current = await loadCurrentState(tx, scope);
    const t1 = performance.now();
    const plan = planSync(current, batch, present);
    const t2 = performance.now();
    const refused = [...options.refused, ...plan.refused];
    const dryRun = options.dryRun ?? false;
    const base = { mode: options.mode, dryRun, startedAt, counts: { ...summarise(plan), refused: refused.length }, refused, watermark: options.watermark };
    // A dry run changes nothing in the directory, but its report is kept like any run's (it never moves the watermark).
    const runId = await startRun(tx, { source: 'catalogue', mode: options.mode, dryRun, startedAt });
    if (!dryRun) await applyPlan(tx, plan, startedAt, runId);
    const report: CatalogueSyncReport = { runId, ...base, finishedAt: options.now() };
    await finishRun(tx, runId, report.finishedAt, options.watermark, { counts: report.counts, refused });
    return { report, plan, durations: { loadMs: t1 - t0, planMs: t2 - t1, writeMs: performance.now() - t2 } };
  });
}

/** Every HSA-id in a batch: what a complete run saw in the source. */
export function presentIn(batch: CatalogueBatch, alsoPresent: Partial<Record<keyof PresentKeys, readonly string[]>> = {}): PresentKeys {
  const keys = (records: readonly { hsaId: string }[], extra: readonly string[] = []) => new Set([...records.map((r) => r.hsaId), ...extra]);
  return {
    organisations: keys(batch.organisations, alsoPresent.organisations),
    units: keys(batch.units, alsoPresent.units),
    serviceIdentities: keys(batch.employees, alsoPresent.serviceIdentities),
    commissions: keys(batch.commissions, alsoPresent.commissions),
    functionObjects: keys(batch.functionObjects, alsoPresent.functionObjects),
  };
}
