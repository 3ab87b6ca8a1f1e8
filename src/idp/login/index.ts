/**
 * The login steps, pages and flow both protocols share: method → QR page (an
 * order on the authentication service) or card login over mutual TLS →
 * choice of commission or service identity.
 * Each protocol mounts the steps under its own path with an adapter
 * (`createLoginRouter`): how its pending login is found, and how it ends.
 */
export { asLoggedIn, createLoginFlow, qrImage, autoStartLink, OOB_METHODS, type CardOutcomeOfLogin, type LoginFlow, type PendingLogin, type PollOutcome } from './flow.ts';
export { cardRefusalPage, commissionPage, heading, hintText, loginErrorPage, loginMessages, methodPage, serviceIdentityPage, waitPage, widenFormAction, type LoginMethod } from './pages.ts';
export { createLoginRouter, sendLoginError, type LoginAdapter, type LoginFailure, type LoginMissing, type LoginRequest, type LoginRouterDependencies, type LoginServices } from './router.ts';
