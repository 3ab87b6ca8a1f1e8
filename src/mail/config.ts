import { z } from 'zod';
import { port, secret } from '../config/fields.ts';

/** One plain address, nothing a mail library could read as a second recipient, a comment or a header. */
export const MAIL_ADDRESS = /^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$/;

export const mailConfigSchema = z
  .strictObject({
    smtp: z
      .strictObject({
        /** SMTP server; unset: messages wait in the outbox and the sender says so. */
        host: z.string().min(1).optional(),
        port: port.default(587),
        /** tls: TLS from the first byte (port 465); starttls: upgrade, refused if the server cannot; none: plain (loopback relays only). */
        security: z.enum(['tls', 'starttls', 'none']).default('starttls'),
        /** PEM file of the CA that signed the server's certificate; the system's CAs otherwise. */
        caFile: z.string().min(1).optional(),
        user: z.string().min(1).optional(),
        password: secret(z.string().optional()),
        from: z.string().regex(MAIL_ADDRESS, 'expected one e-mail address, e.g. noreply@region.example').optional(),
        /** Display name in From. */
        fromName: z.string().max(100).regex(/^[^\r\n"<>]*$/, 'no quotes, angle brackets or line breaks').default('Tillit'),
        timeoutMs: z.coerce.number().int().min(100).default(30_000),
      })
      .refine((smtp) => !smtp.host || smtp.from, { message: 'from is needed when host is set', path: ['from'] })
      .refine((smtp) => Boolean(smtp.user) === Boolean(smtp.password), { message: 'user and password go together', path: ['password'] })
      .prefault({}),
    /** Deliveries tried before a message becomes a dead letter. */
    maxAttempts: z.coerce.number().int().min(1).max(100).default(8),
    /** Wait after the first failure; doubled after each next one, up to retryMaxSeconds. */
    retryBaseSeconds: z.coerce.number().int().min(1).default(60),
    retryMaxSeconds: z.coerce.number().int().min(1).default(6 * 3_600),
    /** Messages one sender run delivers at most. */
    batchSize: z.coerce.number().int().min(1).max(10_000).default(200),
  });

export type MailConfig = z.infer<typeof mailConfigSchema>;
