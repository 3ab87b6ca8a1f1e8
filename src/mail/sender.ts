import { readFile } from 'node:fs/promises';
import nodemailer from 'nodemailer';
import type { Database } from '../store/index.ts';
import type { Job } from '../jobs/index.ts';
import type { MailConfig } from './config.ts';

/** What sends one message: nodemailer's SMTP transport, or whatever a test puts in its place. */
export interface MailTransport {
  send(message: { from: string; to: string; subject: string; text: string; html: string }): Promise<{ messageId: string }>;
  close(): void;
}

/** An SMTP transport from `mail.smtp`; undefined when no server is configured. */
export async function smtpTransport(config: MailConfig['smtp']): Promise<MailTransport | undefined> {
  if (!config.host || !config.from) return undefined;
  const ca = config.caFile ? await readFile(config.caFile, 'utf8') : undefined;
  const transporter = nodemailer.createTransport({
    // One run sends a batch: reuse the connection rather than greet and authenticate per message.
    pool: true,
    maxConnections: 1,
    host: config.host,
    port: config.port,
    secure: config.security === 'tls',
    // STARTTLS must happen; a server (or a man in the middle) that does not offer it gets nothing.
    requireTLS: config.security === 'starttls',
    ignoreTLS: config.security === 'none',
    ...(config.user && config.password ? { auth: { user: config.user, pass: config.password } } : {}),
    tls: { minVersion: 'TLSv1.2', ...(ca ? { ca } : {}) },
    connectionTimeout: config.timeoutMs,
    greetingTimeout: config.timeoutMs,
    socketTimeout: config.timeoutMs,
    // Messages are rendered text and HTML; nothing may pull in files or URLs.
    disableFileAccess: true,
    disableUrlAccess: true,
  });
  const from = { name: config.fromName, address: config.from };
  return {
    async send(message) {
      const info = await transporter.sendMail({ ...message, from });
      return { messageId: info.messageId };
    },
    close: () => transporter.close(),
  };
}

/** The wait before the next attempt after `attempts` failures: doubling from the base, capped. */
export function retryDelaySeconds(attempts: number, config: Pick<MailConfig, 'retryBaseSeconds' | 'retryMaxSeconds'>): number {
  return Math.min(config.retryBaseSeconds * 2 ** Math.min(attempts - 1, 30), config.retryMaxSeconds);
}

export interface DeliveryReport {
  readonly smtpConfigured: boolean;
  readonly due: number;
  readonly sent: number;
  readonly failed: number;
  readonly dead: number;
  readonly errors: readonly { readonly id: number; readonly recipient: string; readonly attempt: number; readonly error: string }[];
}

/**
 * Sends the messages that are due, oldest first. Each outcome is written as
 * soon as it is known: sent; failed with its error and a later attempt; or,
 * at the last allowed attempt, dead. A dry run only counts what is due.
 */
export async function deliverDueMail(db: Database, transport: MailTransport | undefined, config: MailConfig, now: () => Date, dryRun: boolean): Promise<DeliveryReport> {
  const due = await db.query<{ id: number; recipient: string; subject: string; text_body: string; html_body: string; attempts: number }>(
    `select id, recipient, subject, text_body, html_body, attempts from mail_outbox where status = 'pending' and next_attempt_at <= $1 order by next_attempt_at, id limit $2`,
    [now(), config.batchSize],
  );
  const report = { smtpConfigured: transport !== undefined, due: due.length, sent: 0, failed: 0, dead: 0, errors: [] as DeliveryReport['errors'][number][] };
  if (dryRun || !transport) return report;
  for (const message of due) {
    const attempt = message.attempts + 1;
    try {
      const { messageId } = await transport.send({ from: config.smtp.from!, to: message.recipient, subject: message.subject, text: message.text_body, html: message.html_body });
      await db.query(`update mail_outbox set status = 'sent', attempts = $2, sent_at = $3, smtp_message_id = $4, last_error = null where id = $1`, [message.id, attempt, now(), messageId]);
      report.sent++;
    } catch (cause) {
      const error = describeFailure(cause);
      report.errors.push({ id: message.id, recipient: message.recipient, attempt, error });
      if (attempt >= config.maxAttempts) {
        await db.query(`update mail_outbox set status = 'dead', attempts = $2, last_error = $3, dead_at = $4 where id = $1`, [message.id, attempt, error, now()]);
        report.dead++;
      } else {
        const next = new Date(now().getTime() + retryDelaySeconds(attempt, config) * 1_000);
        await db.query(`update mail_outbox set attempts = $2, last_error = $3, next_attempt_at = $4 where id = $1`, [message.id, attempt, error, next]);
        report.failed++;
      }
    }
  }
  return report;
}

/** The server's answer when there was one (`550 5.1.1 …`), else the connection error; never credentials. */
function describeFailure(cause: unknown): string {
  const error = cause as { response?: string; responseCode?: number; code?: string; message?: string };
  const text = error.response ?? `${error.code ? `${error.code}: ` : ''}${error.message ?? String(cause)}`;
  return text.replace(/\s+/g, ' ').slice(0, 500);
}

/** The job that empties the outbox. `transport` is for tests; by default it is made from `mail.smtp` on each run. */
export function mailSenderJob(config: MailConfig, transport?: () => Promise<MailTransport | undefined>): Job {
  return {
    name: 'mail-sender',
    description: 'deliver queued e-mail through SMTP; retry failures with backoff; dead letters after mail.maxAttempts',
    defaultSchedule: 'every 1m',
    async run(context, { dryRun }) {
      const made = await (transport ?? (() => smtpTransport(config.smtp)))();
      try {
        const report = await deliverDueMail(context.db, made, config, context.now, dryRun);
        if (!made && report.due) context.log.warn({ due: report.due }, 'e-mail is waiting: no SMTP server is configured (mail.smtp.host)');
        return { ...report };
      } finally {
        made?.close();
      }
    },
  };
}
