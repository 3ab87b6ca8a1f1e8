/**
 * The login pages and flow both protocols share: method → QR page (an order
 * on the authentication service) or card login over mutual TLS → choice of
 * commission or service identity.
 * Each protocol mounts them under its own path and finishes in its own way.
 */
export { asLoggedIn, createLoginFlow, qrImage, autoStartLink, OOB_METHODS, type CardOutcomeOfLogin, type LoginFlow, type PendingLogin, type PollOutcome } from './flow.ts';
export { cardRefusalPage, commissionPage, heading, hintText, loginErrorPage, loginMessages, methodPage, serviceIdentityPage, waitPage, widenFormAction, type LoginMethod } from './pages.ts';
