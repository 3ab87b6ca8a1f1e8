import type { FastifyPluginAsync } from 'fastify';
import type { Logger } from 'pino';
import type { Config } from '../config/index.ts';
import type { Job } from '../jobs/index.ts';
import type { Database, EphemeralStore } from '../store/index.ts';

/** What the composition root hands every part. */
export interface PartContext {
  readonly config: Config;
  readonly db: Database;
  readonly ephemeral: EphemeralStore;
  readonly log: Logger;
  readonly now: () => Date;
}

/** Text in both UI languages. */
export interface Localized {
  readonly sv: string;
  readonly en: string;
}

export interface PartLink {
  readonly href: string;
  readonly label: Localized;
}

/**
 * One capability of the system (PKI, directory, IdP, ...). A part registers
 * its routes as Fastify plugins; the server decides where they are mounted.
 */
export interface Part {
  readonly name: string;
  readonly title: Localized;
  readonly description: Localized;
  /** Links the start page shows for this part. */
  readonly links: readonly PartLink[];
  /** Routes on the HTTPS server (everything a person or an e-service uses). */
  readonly https?: FastifyPluginAsync;
  /** Routes on the plain-HTTP server (only what must be plain: CRL, OCSP, CA certificates). */
  readonly http?: FastifyPluginAsync;
  /** Fills in the demo region on the first start of an empty installation. */
  seedDemo?(): Promise<string[]>;
  stop?(): Promise<void>;
  /** Scheduled jobs this part runs (see src/jobs): the scheduler runs them on their schedules; `tillit jobs run` by hand. */
  readonly jobs?: readonly Job[];
  /** What this part offers the parts started after it (read through the providing domain's own typed accessor). */
  readonly provides?: unknown;
}

/** Makes a part; `started` holds the parts already running, by name, for the services they provide. */
export type PartFactory = (context: PartContext, started: ReadonlyMap<string, Part>) => Promise<Part>;
