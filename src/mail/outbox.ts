import type { Queryable } from '../store/index.ts';
import { DEFAULT_LOCALE, isLocale, type Locale } from '../web/index.ts';
import { MAIL_ADDRESS } from './config.ts';
import { mailDocument, type MailTemplate } from './templates.ts';

/** A message refused before it was written: the reason names the field. */
export class MailRefused extends Error {
  override readonly name = 'MailRefused';
}

export interface OutboxMessage {
  readonly id: number;
  readonly createdAt: Date;
  readonly template: string;
  readonly locale: Locale;
  readonly recipient: string;
  readonly subject: string;
  readonly status: 'pending' | 'sent' | 'dead';
  readonly attempts: number;
  readonly nextAttemptAt: Date;
  readonly lastError: string | null;
  readonly sentAt: Date | null;
  readonly deadAt: Date | null;
}

export function normaliseAddress(address: string): string {
  const trimmed = address.trim();
  if (trimmed.length > 254 || !MAIL_ADDRESS.test(trimmed)) throw new MailRefused(`recipient ${JSON.stringify(address.slice(0, 80))} is not one plain e-mail address`);
  return trimmed.toLowerCase();
}

/** The language a recipient chose; Swedish when they chose none. */
export async function recipientLocale(db: Queryable, address: string): Promise<Locale> {
  const [row] = await db.query<{ locale: string }>('select locale from mail_recipient where address = $1', [normaliseAddress(address)]);
  return row && isLocale(row.locale) ? row.locale : DEFAULT_LOCALE;
}

/** Remembers a recipient's language (the portal's self-service sets it). */
export async function setRecipientLocale(db: Queryable, address: string, locale: Locale, now: Date): Promise<void> {
  if (!isLocale(locale)) throw new MailRefused(`language ${JSON.stringify(locale)}: expected sv or en`);
  await db.query(
    'insert into mail_recipient (address, locale, updated_at) values ($1, $2, $3) on conflict (address) do update set locale = excluded.locale, updated_at = excluded.updated_at',
    [normaliseAddress(address), locale, now],
  );
}

/**
 * Writes a message to the outbox in the caller's transaction `tx`: it is
 * sent if and only if what the caller did commits. Rendered now, in the
 * recipient's language (or `locale`), so a later template change does not
 * alter what was decided.
 */
export async function enqueueMail<V>(tx: Queryable, message: { to: string; template: MailTemplate<V>; values: V; now: Date; locale?: Locale }): Promise<number> {
  const to = normaliseAddress(message.to);
  const locale = message.locale ?? (await recipientLocale(tx, to));
  const content = message.template.render(message.values, locale);
  const [row] = await tx.query<{ id: number }>(
    `insert into mail_outbox (created_at, template, locale, recipient, subject, text_body, html_body, next_attempt_at) values ($1, $2, $3, $4, $5, $6, $7, $1) returning id`,
    [message.now, message.template.name, locale, to, content.subject, content.text, mailDocument(locale, content.subject, content.html)],
  );
  return row!.id;
}

const COLUMNS = `id, created_at as "createdAt", template, locale, recipient, subject, status, attempts, next_attempt_at as "nextAttemptAt",
  last_error as "lastError", sent_at as "sentAt", dead_at as "deadAt"`;

export function listDeadLetters(db: Queryable, limit = 100): Promise<OutboxMessage[]> {
  return db.query<OutboxMessage>(`select ${COLUMNS} from mail_outbox where status = 'dead' order by dead_at desc, id desc limit $1`, [limit]);
}

export function listOutbox(db: Queryable, options: { status?: OutboxMessage['status']; limit?: number } = {}): Promise<OutboxMessage[]> {
  return db.query<OutboxMessage>(`select ${COLUMNS} from mail_outbox where ($1::text is null or status = $1) order by id desc limit $2`, [options.status ?? null, options.limit ?? 100]);
}

/** Puts dead letters back in the queue with fresh attempts; returns the ids that were dead and are now pending. */
export async function retryDeadLetters(db: Queryable, ids: readonly number[] | 'all', now: Date): Promise<number[]> {
  const rows = await db.query<{ id: number }>(
    `update mail_outbox set status = 'pending', attempts = 0, next_attempt_at = $2, dead_at = null
      where status = 'dead' and ($1::bigint[] is null or id = any($1)) returning id`,
    [ids === 'all' ? null : ids, now],
  );
  return rows.map((r) => r.id).sort((a, b) => a - b);
}
