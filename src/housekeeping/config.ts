import { z } from 'zod';
import { listOf } from '../config/fields.ts';

export const housekeepingConfigSchema = z.strictObject({
  directorySync: z
    .strictObject({
      /** full: read the whole catalogue and end what vanished (needed to see holders that left); incremental: only changes. */
      catalogueMode: z.enum(['full', 'incremental', 'reconcile']).default('full'),
    })
    .prefault({}),
  expiryReminders: z
    .strictObject({
      /** Days before expiry at which the holder is e-mailed, once each. */
      daysBefore: listOf(z.coerce.number().int().min(1).max(365))
        .refine((days) => days.length > 0 && new Set(days).size === days.length, 'expected distinct whole days, e.g. 60,30,7')
        .default([60, 30, 7]),
    })
    .prefault({}),
});

export type HousekeepingConfig = z.infer<typeof housekeepingConfigSchema>;
