import type { Command } from 'commander';
import type { CommandContext } from './context.ts';

/** Opens the stores for one command (`openCommandContext`, or stores made by a test). */
export type OpenCommandContext = (command: Command) => Promise<CommandContext>;

/**
 * A runner for a domain's commands: the work gets freshly opened stores,
 * closed afterwards whatever happens. A refusal the operator can act on (an
 * instance of `refusal`) is printed as `error: <message>` with exit code 1,
 * not as a stack.
 */
export function contextRunner(refusal: abstract new (...args: never[]) => Error) {
  return async (open: OpenCommandContext, command: Command, work: (context: CommandContext) => Promise<void>): Promise<void> => {
    const context = await open(command);
    try {
      await work(context);
    } catch (error) {
      if (error instanceof refusal) command.error(`error: ${error.message}`, { exitCode: 1 });
      throw error;
    } finally {
      await context.close();
    }
  };
}

/** `list`: the records as one JSON array, or a line each, or `empty` when there are none. */
export function printList<T>(records: readonly T[], json: boolean | undefined, line: (record: T) => string, empty: string): void {
  if (json) console.log(JSON.stringify(records));
  else if (!records.length) console.log(empty);
  else for (const record of records) console.log(line(record));
}

/** `show`: the record as one JSON line, or a `key: value` line per field (a list comma-separated, an object as JSON). */
export function printRecord(record: object, json: boolean | undefined): void {
  if (json) console.log(JSON.stringify(record));
  else for (const [key, value] of Object.entries(record)) console.log(`${key}: ${Array.isArray(value) ? value.join(', ') : typeof value === 'object' && value !== null ? JSON.stringify(value) : String(value)}`);
}
