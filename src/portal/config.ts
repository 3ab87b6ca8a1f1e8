import { z } from 'zod';
import { listOf } from '../config/fields.ts';

export const portalConfigSchema = z.strictObject({
  /** An ID administrator's role lapses when their training is older than this. */
  trainingValidForDays: z.coerce.number().int().min(1).max(3650).default(1095),
  /** Largest card photo accepted. */
  photoMaxBytes: z.coerce.number().int().min(1024).max(20 * 1024 * 1024).default(2 * 1024 * 1024),
  /** The issuers are warned when an office has this many reserve cards left, or fewer. */
  lowStockThreshold: z.coerce.number().int().min(0).default(5),
  /** Pages sign the administrator out after this long without a request. */
  idleMinutes: z.coerce.number().int().min(1).max(480).default(15),
  /** HSA-id in the function certificate that signs production batches (made by the function CA at the first export). */
  batchSignerHsaId: z.string().regex(/^SE\d{10}-[A-Z0-9]+$/, 'expected an HSA-id like SE2321000008-EIDPORTAL').default('SE2321000008-EIDPORTAL'),
  unactivatedCards: z
    .strictObject({
      /** An ordinary card still not handed out and activated this many days after it came back produced is revoked. */
      revokeAfterDays: z.coerce.number().int().min(1).max(3650).default(100),
    })
    .prefault({}),
  unfinishedOrders: z
    .strictObject({
      /** An order not yet in production (awaiting confirmation or ordered) this many days after it was placed is deleted. */
      deleteAfterDays: z.coerce.number().int().min(1).max(3650).default(90),
    })
    .prefault({}),
  functionCertificateReminders: z
    .strictObject({
      /** Days before a function certificate expires at which its orderers are e-mailed, once each. */
      daysBefore: listOf(z.coerce.number().int().min(1).max(365))
        .refine((days) => days.length > 0 && new Set(days).size === days.length, 'expected distinct whole days, e.g. 60,30,7')
        .default([60, 30, 7]),
    })
    .prefault({}),
});

export type PortalConfig = z.infer<typeof portalConfigSchema>;
