import { readFile } from 'node:fs/promises';
import type { Job } from '../../jobs/index.ts';
import type { SamlConfig } from './config.ts';
import { refreshAggregate, type AggregateRefresh } from './sps.ts';

export const AGGREGATE_REFRESH_JOB = 'saml-aggregate-refresh';

/**
 * Refreshes every configured federation aggregate, one node per slot (the
 * jobs lock): SPs added, updated and removed as each signed aggregate says,
 * each aggregate in its own transaction. An aggregate that is refused (bad
 * signature, expired, unreachable) changes nothing and fails the run, after
 * the others have been refreshed. The default schedule is the shortest
 * `refreshMinutes` of the aggregates (`off` with none).
 */
export function aggregateRefreshJob(saml: Pick<SamlConfig, 'aggregates'>, read: (path: string) => Promise<string> = (path) => readFile(path, 'utf8')): Job {
  const minutes = Math.min(...saml.aggregates.map((a) => a.refreshMinutes));
  return {
    name: AGGREGATE_REFRESH_JOB,
    description: 'refresh the federation aggregates (saml.aggregates): add, update and remove their SPs as each signed aggregate says; a refused aggregate changes nothing',
    defaultSchedule: saml.aggregates.length ? `every ${minutes}m` : 'off',
    async run(context, { dryRun }) {
      const aggregates: ({ source: string } & (AggregateRefresh | { refused: string }))[] = [];
      for (const spec of saml.aggregates) {
        try {
          const result = await refreshAggregate(context.db, spec, read, context.now(), { dryRun });
          context.log.info({ decision: 'saml aggregate refreshed', source: spec.source, added: result.added.length, updated: result.updated.length, removed: result.removed.length, skipped: result.skipped.length }, 'saml aggregate refreshed');
          aggregates.push({ source: spec.source, ...result });
        } catch (error) {
          const reason = (error as Error).message;
          context.log.warn({ decision: 'saml aggregate refused', source: spec.source, reason }, 'saml aggregate not refreshed');
          aggregates.push({ source: spec.source, refused: reason });
        }
      }
      const refused = aggregates.filter((a): a is { source: string; refused: string } => 'refused' in a);
      if (refused.length) throw new Error(`aggregate${refused.length > 1 ? 's' : ''} not refreshed (the last good SPs stay): ${refused.map((a) => `${a.source}: ${a.refused}`).join('; ')}`);
      return { aggregates: aggregates.length ? aggregates : 'none configured (saml.aggregates)' };
    },
  };
}
