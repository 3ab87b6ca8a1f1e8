import type { Command } from 'commander';
import { loadConfig, type Config } from '../config/index.ts';
import type { JobsCommandContext } from '../jobs/index.ts';
import type { Part, PartContext } from '../server/index.ts';
import { createLogger, openStores, selectParts } from '../system/index.ts';

/** What a domain's CLI commands get: the effective config, open and migrated stores, and how to close them. */
export type CommandContext = PartContext & { close(): Promise<void> };

export interface GlobalOptions {
  config?: string;
}

/** The effective config for `command`, with its global `--config` and the environment. */
export function configFor(command: Command, overrides: Record<string, unknown> = {}): Config {
  return loadConfig({ file: command.optsWithGlobals<GlobalOptions>().config, env: process.env, overrides });
}

/** Opens the stores for a one-shot command; logs go to stderr at warn so stdout stays the command's output. */
export async function openCommandContext(command: Command): Promise<CommandContext> {
  const loaded = configFor(command);
  const config = { ...loaded, log: { level: loaded.log.level === 'info' ? ('warn' as const) : loaded.log.level } };
  const log = createLogger(config, 2);
  const stores = await openStores(config, log);
  return { config, db: stores.db, ephemeral: stores.ephemeral, log, now: () => new Date(), close: stores.close };
}

/** The stores and every configured part, started without servers or scheduler: for `tillit jobs`, which runs the parts' jobs. */
export async function openJobsContext(command: Command): Promise<JobsCommandContext> {
  const context = await openCommandContext(command);
  const parts: Part[] = [];
  const close = async () => {
    for (const part of [...parts].reverse()) await part.stop?.();
    await context.close();
  };
  try {
    const started = new Map<string, Part>();
    for (const [name, create] of selectParts(context.config.parts)) {
      const part = await create(context, started);
      parts.push(part);
      started.set(name, part);
    }
  } catch (error) {
    await close().catch(() => {});
    throw error;
  }
  return { config: context.config, db: context.db, log: context.log, now: context.now, jobs: parts.flatMap((part) => part.jobs ?? []), close };
}
