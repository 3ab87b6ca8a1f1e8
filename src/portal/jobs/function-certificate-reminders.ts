import type { Config } from '../../config/index.ts';
import { holderStandings } from '../../directory/index.ts';
import { dueStep } from '../../housekeeping/index.ts';
import type { Job } from '../../jobs/index.ts';
import { defineTemplate, enqueueMail, MailRefused } from '../../mail/index.ts';
import { html } from '../../web/index.ts';

export const FUNCTION_CERTIFICATE_REMINDERS_JOB = 'function-certificate-expiry-reminders';
const DAY_MS = 86_400_000;

interface ReminderValues {
  readonly serial: string;
  readonly functionObject: string;
  readonly profile: string;
  readonly dnsNames: readonly string[];
  readonly expiresOn: string;
  readonly daysLeft: number;
  readonly portalUrl: string;
}

/** What the orderer is told: which certificate, when, and how to renew it before then. */
export const functionCertificateReminderTemplate = defineTemplate<ReminderValues>('function-certificate-expiry-reminder', {
  sv: (v) => {
    const names = v.dnsNames.length ? ` (${v.dnsNames.join(', ')})` : '';
    const todo = `Förnya det i god tid: logga in i eID-portalen (${v.portalUrl}/portal/function-certificates), välj certifikatet och skicka in en ny certifikatbegäran (CSR). Installera det nya certifikatet innan det gamla slutar gälla.`;
    return {
      subject: `Funktionscertifikatet för ${v.functionObject} slutar gälla om ${v.daysLeft} dagar`,
      text: `Hej!\n\nFunktionscertifikatet (${v.profile}) för ${v.functionObject}${names} slutar gälla den ${v.expiresOn} (om ${v.daysLeft} dagar).\n\n${todo}\n\nCertifikat: ${v.serial}\n\nDu får brevet som beställare av funktionscertifikat för ${v.functionObject}. Det skickades automatiskt.`,
      html: html`<p>Hej!</p><p>Funktionscertifikatet (${v.profile}) för <strong>${v.functionObject}</strong>${names} slutar gälla den <strong>${v.expiresOn}</strong> (om ${v.daysLeft} dagar).</p><p>${todo}</p><p>Certifikat: ${v.serial}</p><p>Du får brevet som beställare av funktionscertifikat för ${v.functionObject}. Det skickades automatiskt.</p>`,
    };
  },
  en: (v) => {
    const names = v.dnsNames.length ? ` (${v.dnsNames.join(', ')})` : '';
    const todo = `Renew it in good time: sign in to the eID portal (${v.portalUrl}/portal/function-certificates), choose the certificate and submit a new certificate signing request (CSR). Install the new certificate before the old one expires.`;
    return {
      subject: `The function certificate for ${v.functionObject} expires in ${v.daysLeft} days`,
      text: `Hello,\n\nThe function certificate (${v.profile}) for ${v.functionObject}${names} expires on ${v.expiresOn} (in ${v.daysLeft} days).\n\n${todo}\n\nCertificate: ${v.serial}\n\nYou receive this as an orderer of function certificates for ${v.functionObject}. It was sent automatically.`,
      html: html`<p>Hello,</p><p>The function certificate (${v.profile}) for <strong>${v.functionObject}</strong>${names} expires on <strong>${v.expiresOn}</strong> (in ${v.daysLeft} days).</p><p>${todo}</p><p>Certificate: ${v.serial}</p><p>You receive this as an orderer of function certificates for ${v.functionObject}. It was sent automatically.</p>`,
    };
  },
});

interface Due {
  serial: string;
  function_object_hsa_id: string;
  profile: string;
  dns_names: string[];
  not_after: Date;
  ordered_by: string;
  orderers: string[];
  sent_steps: number[];
}

/**
 * E-mails the orderers of each function certificate in force, not renewed,
 * `portal.functionCertificateReminders.daysBefore` (default 60, 30, 7) days
 * before it expires, once per step: the one who ordered it and everyone now
 * authorised to order for its function object, at their service identity's
 * address in the directory (ended service identities are not written to),
 * in their language. The step is recorded in the same transaction as the
 * messages, so a step is sent once even with two nodes or a failed run.
 */
export function functionCertificateRemindersJob(config: Pick<Config, 'portal' | 'server'>): Job {
  const steps = config.portal.functionCertificateReminders.daysBefore;
  return {
    name: FUNCTION_CERTIFICATE_REMINDERS_JOB,
    description: `e-mail function-certificate orderers ${steps.join(', ')} days before the certificate expires, once per step`,
    defaultSchedule: 'daily 06:15',
    async run(context, { dryRun }) {
      const now = context.now();
      const certificates = await context.db.query<Due>(
        `select fc.serial, fc.function_object_hsa_id, fc.profile, fc.dns_names, fc.not_after, fc.ordered_by,
                coalesce((select array_agg(o.orderer_hsa_id order by o.orderer_hsa_id) from portal_function_orderer o
                           where o.function_object_hsa_id = fc.function_object_hsa_id and o.removed_at is null), '{}') as orderers,
                coalesce((select array_agg(r.step_days) from portal_function_certificate_reminder r where r.serial = fc.serial), '{}') as sent_steps
           from portal_function_certificate fc
          where fc.revoked_at is null and fc.not_after > $1 and fc.not_after <= $2
            and not exists (select 1 from portal_function_certificate n where n.replaces = fc.serial)
          order by fc.not_after, fc.serial`,
        [now, new Date(now.getTime() + Math.max(...steps) * DAY_MS)],
      );
      const planned = certificates.flatMap((c) => {
        const daysLeft = Math.ceil((c.not_after.getTime() - now.getTime()) / DAY_MS);
        const step = dueStep(daysLeft, steps, c.sent_steps);
        return step === undefined ? [] : [{ certificate: c, daysLeft, step, holders: [...new Set([c.ordered_by, ...c.orderers])] }];
      });
      const standings = await holderStandings(context.db, [...new Set(planned.flatMap((p) => p.holders))]);
      const reminders = planned.map((p) => {
        const addresses = new Map<string, string>();
        const withoutAddress: string[] = [];
        for (const holder of p.holders) {
          const standing = standings.get(holder);
          // An operator's order ('operator:…'), a service identity gone or without an address: no one to write to.
          if (standing?.kind === 'hsaId' && standing.known && !standing.serviceIdentityEndedAt && standing.mail) addresses.set(standing.mail.toLowerCase(), holder);
          else withoutAddress.push(holder);
        }
        return { ...p, recipients: [...addresses.keys()], withoutAddress };
      });
      let queued = 0;
      const refused: { serial: string; recipient: string; error: string }[] = [];
      const nobodyToWrite: string[] = [];
      if (!dryRun) {
        for (const reminder of reminders) {
          const c = reminder.certificate;
          const values = { serial: c.serial, functionObject: c.function_object_hsa_id, profile: c.profile, dnsNames: c.dns_names, expiresOn: c.not_after.toISOString().slice(0, 10), daysLeft: reminder.daysLeft, portalUrl: config.server.publicBaseUrl };
          const outcome = await context.db
            .transaction(async (tx) => {
              const mailIds: number[] = [];
              const sentTo: string[] = [];
              for (const to of reminder.recipients) {
                try {
                  mailIds.push(await enqueueMail(tx, { to, template: functionCertificateReminderTemplate, values, now }));
                  sentTo.push(to);
                } catch (error) {
                  // An address the outbox refuses (not one plain address) is reported; the other orderers still get theirs.
                  if (!(error instanceof MailRefused)) throw error;
                  refused.push({ serial: c.serial, recipient: to, error: error.message });
                }
              }
              // Nobody to write to: the step stays unsent, and is tried again once an orderer has an address.
              if (mailIds.length === 0) return 'nobody' as const;
              const inserted = await tx.query('insert into portal_function_certificate_reminder (serial, step_days, sent_at, recipients, mail_ids) values ($1, $2, $3, $4, $5) on conflict do nothing returning serial', [c.serial, reminder.step, now, sentTo, mailIds]);
              // Another run got there first (two nodes, or a manual run beside the schedule): these messages go with the transaction.
              if (inserted.length === 0) throw new AlreadyReminded();
              return mailIds.length;
            })
            .catch((error: unknown) => {
              if (error instanceof AlreadyReminded) return 0;
              throw error;
            });
          if (outcome === 'nobody') nobodyToWrite.push(c.serial);
          else queued += outcome;
        }
      }
      return {
        steps,
        certificatesExpiringWithinFirstStep: certificates.length,
        reminders: reminders.map((r) => ({ serial: r.certificate.serial, functionObject: r.certificate.function_object_hsa_id, expiresOn: r.certificate.not_after.toISOString().slice(0, 10), step: r.step, recipients: r.recipients, withoutAddress: r.withoutAddress })),
        queued,
        refused,
        nobodyToWrite,
      };
    },
  };
}

class AlreadyReminded extends Error {}
