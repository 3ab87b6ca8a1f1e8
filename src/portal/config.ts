import { z } from 'zod';

export const portalConfigSchema = z.strictObject({
  /** An ID administrator's role lapses when their training is older than this. */
  trainingValidForDays: z.coerce.number().int().min(1).max(3650).default(1095),
  /** Largest card photo accepted. */
  photoMaxBytes: z.coerce.number().int().min(1024).max(20 * 1024 * 1024).default(2 * 1024 * 1024),
  /** The issuers are warned when an office has this many reserve cards left, or fewer. */
  lowStockThreshold: z.coerce.number().int().min(0).default(5),
});

export type PortalConfig = z.infer<typeof portalConfigSchema>;
