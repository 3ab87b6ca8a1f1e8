import { z } from 'zod';
import { flag, port } from '../config/fields.ts';

/**
 * The order API on a listener of its own that asks for client certificates
 * (`authn.callerMtls.*`), for callers registered by their function client
 * certificate's subject rather than a secret.
 */
export const callerMtlsConfigSchema = z.strictObject({
  enabled: flag.default(true),
  /** Port of the order API's client-certificate listener (it listens on `server.host`). */
  port: port.default(8446),
});

export type CallerMtlsConfig = z.infer<typeof callerMtlsConfigSchema>;
