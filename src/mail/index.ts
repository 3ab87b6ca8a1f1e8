import type { Part, PartFactory } from '../server/index.ts';
import { mailSenderJob } from './sender.ts';

/**
 * E-mail: parts write messages to the outbox in their own transaction
 * (`enqueueMail`), rendered from a Swedish/English template in the
 * recipient's language; the `mail-sender` job delivers them over SMTP,
 * retries failures with backoff and keeps dead letters.
 */
export const createMailPart: PartFactory = async (context): Promise<Part> => ({
  name: 'mail',
  title: { sv: 'E-post', en: 'E-mail' },
  description: { sv: 'Utskick via SMTP med omförsök och döda brev.', en: 'Delivery over SMTP with retries and dead letters.' },
  links: [],
  jobs: [mailSenderJob(context.config.mail)],
});

export { mailConfigSchema, type MailConfig } from './config.ts';
export { defineTemplate, type MailContent, type MailTemplate } from './templates.ts';
export { enqueueMail, setRecipientLocale, recipientLocale, listOutbox, listDeadLetters, retryDeadLetters, MailRefused, type OutboxMessage } from './outbox.ts';
export { mailSenderJob, deliverDueMail, smtpTransport, retryDelaySeconds, type MailTransport, type DeliveryReport } from './sender.ts';
export { registerMailCommands } from './cli.ts';
