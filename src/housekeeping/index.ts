import type { Part, PartFactory } from '../server/index.ts';
import { expiryRemindersJob } from './expiry-reminders.ts';
import { directorySyncJob } from './missing-holders.ts';

/**
 * Housekeeping across the PKI, the directory and e-mail: the scheduled
 * rules that keep the registry clean and tell holders what to do. Each job
 * is one file; it runs only where the parts it reads run too.
 */
export const createHousekeepingPart: PartFactory = async (context, started): Promise<Part> => {
  const has = (...names: string[]) => names.every((name) => started.has(name));
  return {
    name: 'housekeeping',
    title: { sv: 'Förvaltning', en: 'Housekeeping' },
    description: { sv: 'Schemalagda jobb: katalogsynk, eID utan innehavare, påminnelser före utgång.', en: 'Scheduled jobs: directory sync, eIDs without a holder, reminders before expiry.' },
    links: [],
    jobs: [
      ...(has('pki', 'directory') ? [directorySyncJob(context.config)] : []),
      ...(has('pki', 'directory', 'mail') ? [expiryRemindersJob(context.config)] : []),
    ],
  };
};

export { housekeepingConfigSchema, type HousekeepingConfig } from './config.ts';
export { directorySyncJob, eidsWithoutHolder, missingReasons, DIRECTORY_SYNC_JOB, type EidWithoutHolder, type MissingReason } from './missing-holders.ts';
export { expiryRemindersJob, expiryReminderTemplate, dueStep } from './expiry-reminders.ts';
