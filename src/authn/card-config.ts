import { isIP } from 'node:net';
import { z } from 'zod';
import { flag, port } from '../config/fields.ts';

/**
 * Card login over mutual TLS (`authn.mtls.*`): its own HTTPS listener that
 * asks browsers for a client certificate, on rolling host names so each new
 * attempt makes the browser ask the person again.
 */
export const cardLoginConfigSchema = z.strictObject({
  enabled: flag.default(true),
  /** Port of the client-certificate listener (it listens on `server.host`). */
  port: port.default(8444),
  /** Host name of attempt n: `{n}` the attempt, `{host}` the host of `server.publicBaseUrl`. */
  hostPattern: z.string().regex(/\{n\}/, 'the pattern must contain {n}').regex(/^[a-z0-9.{}-]+$/, 'letters, digits, dots, hyphens, {n} and {host} only').default('mtls-{n}.{host}'),
  /** Attempts (rolling host names) before the person is told to restart the browser; every name is in the listener's certificate. */
  maxAttempts: z.coerce.number().int().min(1).max(90).default(25),
  /** Certificate checks one started login may cause on the listener (each costs directory and revocation lookups). */
  checksPerRequest: z.coerce.number().int().min(1).default(100),
  /** How long a started card login may take, across its attempts. */
  requestSeconds: z.coerce.number().int().min(30).default(600),
  /** A certificate for the rolling names (e.g. a wildcard from another CA); unset: one from the function CA naming every rolling host. */
  tls: z
    .strictObject({ certFile: z.string().optional(), keyFile: z.string().optional() })
    .refine((t) => Boolean(t.certFile) === Boolean(t.keyFile), 'certFile and keyFile go together')
    .prefault({}),
});

export type CardLoginConfig = z.infer<typeof cardLoginConfigSchema>;

/** The host name for attempt `n`; behind an IP address `{host}` is `localhost` (browsers send `*.localhost` to loopback). */
export function rollingHost(config: Pick<CardLoginConfig, 'hostPattern'>, publicBaseUrl: string, n: number): string {
  const host = new URL(publicBaseUrl).hostname.replace(/^\[|\]$/g, '');
  return config.hostPattern.replaceAll('{host}', isIP(host) ? 'localhost' : host).replaceAll('{n}', String(n));
}
