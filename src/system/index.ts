/** The composition root: opens the stores and starts the parts this build has on the HTTP servers. */
export { startSystem, openStores, createLogger, type RunningSystem, type StartOptions } from './system.ts';
export { selectParts } from './parts.ts';
