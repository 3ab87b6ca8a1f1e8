export { startSystem, openStores, createLogger, type RunningSystem, type StartOptions } from './system.ts';
export { sendPage, rememberLocale, CONTENT_SECURITY_POLICY } from './app.ts';
export { selectParts } from './parts.ts';
export type { Part, PartContext, PartFactory, PartLink, Localized } from './part.ts';
export { functionCaCertificateMaker, loadOrCreateServerCertificate, type TlsCredentials } from './tls.ts';
