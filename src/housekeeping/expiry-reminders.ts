import type { Config } from '../config/index.ts';
import { holderStandings } from '../directory/index.ts';
import type { Job } from '../jobs/index.ts';
import { defineTemplate, enqueueMail, MailRefused } from '../mail/index.ts';
import { eidCertificatesInForce, type EidCertificate } from '../pki/index.ts';
import { html } from '../web/index.ts';

const DAY_MS = 86_400_000;

export type EidKind = 'mobile' | 'card';

interface ReminderValues {
  readonly kind: EidKind;
  readonly expiresOn: string;
  readonly daysLeft: number;
  readonly serials: readonly string[];
  readonly portalUrl: string;
}

/** What the holder is told, and what to do: a new mobile eID from self-service, or a new card through their ID administrator. */
export const expiryReminderTemplate = defineTemplate<ReminderValues>('certificate-expiry-reminder', {
  sv: (v) => {
    const what = v.kind === 'mobile' ? 'Ditt mobila eID' : 'Certifikaten på ditt eID-kort';
    const todo =
      v.kind === 'mobile'
        ? `Registrera ett nytt mobilt eID innan dess: logga in på Mina sidor i eID-portalen (${v.portalUrl}) och följ anvisningarna i eID-appen. Det gamla slutar fungera när det har gått ut.`
        : 'Kontakta din ID-administratör i god tid för att beställa ett nytt kort. Ta med giltig legitimation när du hämtar det.';
    return {
      subject: `${what} slutar gälla om ${v.daysLeft} dagar`,
      text: `Hej!\n\n${what} slutar gälla den ${v.expiresOn} (om ${v.daysLeft} dagar).\n\n${todo}\n\nCertifikat: ${v.serials.join(', ')}\n\nDet här brevet skickades automatiskt.`,
      html: html`<p>Hej!</p><p>${what} slutar gälla den <strong>${v.expiresOn}</strong> (om ${v.daysLeft} dagar).</p><p>${todo}</p><p>Certifikat: ${v.serials.join(', ')}</p><p>Det här brevet skickades automatiskt.</p>`,
    };
  },
  en: (v) => {
    const what = v.kind === 'mobile' ? 'Your mobile eID' : 'The certificates on your eID card';
    const verb = v.kind === 'mobile' ? 'expires' : 'expire';
    const todo =
      v.kind === 'mobile'
        ? `Enrol a new mobile eID before then: log in to My pages in the eID portal (${v.portalUrl}) and follow the steps in the eID app. The old one stops working when it has expired.`
        : 'Contact your ID administrator in good time to order a new card. Bring valid identification when you collect it.';
    return {
      subject: `${what} ${verb} in ${v.daysLeft} days`,
      text: `Hello,\n\n${what} ${verb} on ${v.expiresOn} (in ${v.daysLeft} days).\n\n${todo}\n\nCertificates: ${v.serials.join(', ')}\n\nThis message was sent automatically.`,
      html: html`<p>Hello,</p><p>${what} ${verb} on <strong>${v.expiresOn}</strong> (in ${v.daysLeft} days).</p><p>${todo}</p><p>Certificates: ${v.serials.join(', ')}</p><p>This message was sent automatically.</p>`,
    };
  },
});

/**
 * The reminder step due for a certificate `daysLeft` days from expiry: the
 * smallest configured step it has reached, unless that step or a later
 * (smaller) one was already sent. A certificate first seen at 25 days gets
 * the 30-day reminder only, not the 60-day one as well.
 */
export function dueStep(daysLeft: number, steps: readonly number[], sentSteps: readonly number[]): number | undefined {
  const reached = steps.filter((s) => daysLeft <= s);
  if (!reached.length) return undefined;
  const step = Math.min(...reached);
  return sentSteps.some((s) => s <= step) ? undefined : step;
}

export function eidKind(certificate: Pick<EidCertificate, 'caId'>): EidKind {
  return certificate.caId === 'mobile' ? 'mobile' : 'card';
}

interface PlannedReminder {
  readonly recipient: string;
  readonly kind: EidKind;
  readonly expiresOn: string;
  readonly daysLeft: number;
  readonly step: number;
  readonly serials: string[];
}

/** Reminds holders of person and mobile eIDs before their certificates expire (directory e-mail, their language). */
export function expiryRemindersJob(config: Config): Job {
  return {
    name: 'certificate-expiry-reminders',
    description: `e-mail holders of mobile eIDs and card certificates ${config.housekeeping.expiryReminders.daysBefore.join(', ')} days before expiry, once per step`,
    defaultSchedule: 'daily 06:00',
    async run(context, { dryRun }) {
      const steps = config.housekeeping.expiryReminders.daysBefore;
      const now = context.now();
      const certificates = await eidCertificatesInForce(context.db, now, { expiringBefore: new Date(now.getTime() + Math.max(...steps) * DAY_MS) });
      const rows = await context.db.query<{ serial: string; step_days: number }>('select serial, step_days from certificate_expiry_reminder where serial = any($1)', [certificates.map((c) => c.serial)]);
      const sent = new Map<string, number[]>();
      for (const row of rows) sent.set(row.serial, [...(sent.get(row.serial) ?? []), row.step_days]);
      const standings = await holderStandings(context.db, [...new Set(certificates.flatMap((c) => (c.identifier ? [c.identifier] : [])))]);
      // One message per holder, kind and expiry day: a card's certificate pairs expire together.
      const planned = new Map<string, PlannedReminder>();
      const withoutAddress: string[] = [];
      for (const certificate of certificates) {
        const daysLeft = Math.ceil((certificate.notAfter.getTime() - now.getTime()) / DAY_MS);
        const step = dueStep(daysLeft, steps, sent.get(certificate.serial) ?? []);
        if (step === undefined) continue;
        const recipient = certificate.identifier ? standings.get(certificate.identifier)?.mail : null;
        if (!recipient) {
          withoutAddress.push(certificate.serial);
          continue;
        }
        const kind = eidKind(certificate);
        const expiresOn = certificate.notAfter.toISOString().slice(0, 10);
        const key = `${recipient.toLowerCase()}|${kind}|${expiresOn}|${step}`;
        const entry = planned.get(key) ?? { recipient, kind, expiresOn, daysLeft, step, serials: [] };
        entry.serials.push(certificate.serial);
        planned.set(key, entry);
      }
      const reminders = [...planned.values()];
      const refused: { serials: string[]; error: string }[] = [];
      let queued = 0;
      if (!dryRun) {
        for (const reminder of reminders) {
          try {
            const enqueued = await context.db.transaction(async (tx) => {
              // The reminder record and the message commit together: sent once, and never recorded without its message.
              const mailId = await enqueueMail(tx, { to: reminder.recipient, template: expiryReminderTemplate, values: { ...reminder, portalUrl: config.server.publicBaseUrl }, now });
              const inserted = await tx.query(
                `insert into certificate_expiry_reminder (serial, step_days, sent_at, recipient, mail_id) select s, $2, $3, $4, $5 from unnest($1::text[]) s on conflict do nothing returning serial`,
                [reminder.serials, reminder.step, now, reminder.recipient, mailId],
              );
              if (inserted.length !== reminder.serials.length) throw new AlreadyReminded();
              return true;
            });
            if (enqueued) queued++;
          } catch (error) {
            if (error instanceof AlreadyReminded) continue;
            // A directory address the outbox refuses (not one plain address) is reported; the other holders still get theirs.
            if (!(error instanceof MailRefused)) throw error;
            refused.push({ serials: reminder.serials, error: error.message });
          }
        }
      }
      return {
        steps,
        certificatesExpiringWithinLastStep: certificates.length,
        reminders: reminders.map((r) => ({ recipient: r.recipient, kind: r.kind, step: r.step, expiresOn: r.expiresOn, serials: r.serials })),
        queued,
        withoutAddress,
        refused,
      };
    },
  };
}

/** Another run got there first (two nodes, or a manual run beside the schedule): this message is dropped with its transaction. */
class AlreadyReminded extends Error {}
