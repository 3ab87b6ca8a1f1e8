/** The HTTP servers and what a part needs from them; the composition root that starts the parts is src/system. */
export { buildHttpApp, buildHttpsApp, sendPage, rememberLocale, CONTENT_SECURITY_POLICY, type Readiness } from './app.ts';
export { createMetrics } from './metrics.ts';
export type { Part, PartContext, PartFactory, PartLink, Localized } from './part.ts';
export { functionCaCertificateMaker, loadOrCreateServerCertificate, selfSignedCertificate, type ServerCertificateMaker, type TlsCredentials } from './tls.ts';
