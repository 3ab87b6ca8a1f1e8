/** What the domains' commands share: their context and how they run and print. */
export type { CommandContext } from './context.ts';
export { contextRunner, printList, printRecord, type OpenCommandContext } from './output.ts';
