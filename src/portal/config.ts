import { z } from 'zod';

export const portalConfigSchema = z.strictObject({
  /** An ID administrator's role lapses when their training is older than this. */
  trainingValidForDays: z.coerce.number().int().min(1).max(3650).default(1095),
});

export type PortalConfig = z.infer<typeof portalConfigSchema>;
