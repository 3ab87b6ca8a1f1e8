import { z } from 'zod';
import { flag } from '../config/fields.ts';
import { isTimeZone, parseSchedule } from './schedule.ts';

const scheduleText = z.string().superRefine((text, ctx) => {
  try {
    parseSchedule(text);
  } catch (error) {
    ctx.addIssue({ code: 'custom', message: (error as Error).message });
  }
});

export const jobsConfigSchema = z.strictObject({
  /** Run the scheduler in this server process; turn off on nodes that should only serve requests. */
  scheduler: flag.default(true),
  /** How often the scheduler looks for due jobs. */
  tickSeconds: z.coerce.number().int().min(1).max(3_600).default(30),
  /** A running job holds its lock this long and renews it at a third of that; a node that dies frees it after this. */
  leaseSeconds: z.coerce.number().int().min(10).max(86_400).default(300),
  /** Zone of `daily HH:MM` schedules. */
  timeZone: z.string().refine(isTimeZone, 'expected an IANA time zone such as Europe/Stockholm').default('Europe/Stockholm'),
  /** Per job (camelCase name: directorySync, mailSender): `every 15m`, `daily 02:30` or `off`. */
  schedule: z.record(z.string().regex(/^[a-z][a-zA-Z0-9]*$/, 'expected a job name in camelCase, e.g. mailSender'), scheduleText).default({}),
});

export type JobsConfig = z.infer<typeof jobsConfigSchema>;
