export { createOrderService, challengeBytes, OrderError } from './orders.ts';
export type { OrderService, OrderServiceOptions, OrderKind, OrderTokens, Challenge, CollectResult, Completion, AppAnswer, AnswerVerifier, AnswerVerdict, Requirements, Requester, PendingHint, FailedHint } from './orders.ts';
export { qrContent, parseQr } from './qr.ts';
export { addCaller, addCertificateCaller, authenticateCaller, CallerError, type Caller } from './callers.ts';
export { authnRoutes } from './http.ts';
export { checkEidCertificate, type EidTrust, type CheckedEid, type EidCheck, type EidRefusalCode, type RevocationStatus } from './eid-certificate.ts';
export { createAnswerVerifier, type AnswerVerifierOptions, type KnownPerson } from './verify-answer.ts';
export { createAuthnPart, authnFrom, type AuthnServices } from './part.ts';
export { createEnrolmentService, EnrolmentError, normaliseCode, MAX_ACTIVE_MOBILE_EIDS, ENROLMENT_CODE_MINUTES, ENROLMENT_QR_PREFIX } from './enrolment.ts';
export type { EnrolmentService, EnrolmentDependencies, EnrolmentCode, EnrolledMobileEid, MobileEidRecord, EnrolmentErrorCode } from './enrolment.ts';
/**
 * The SQL view (migration 0311) reports read mobile eIDs from: serial, personnummer, organisation_hsa_id,
 * unit_hsa_id, holder_hsa_id (where the eID was placed at enrolment), enrolled_at, not_after, revoked_at and
 * revocation_reason (RFC 5280, from the PKI; null while good or on hold). One row per eID and organisation.
 */
export const MOBILE_EID_REPORT_VIEW = 'authn_mobile_eid_report';
export { oobConfigSchema, type OobConfig } from './oob-config.ts';
export { DEMO_PIN } from './demo.ts';
export { checkCardCertificate, summarize as summarizeCertificate, type CardOutcome, type CardLogin, type CardRefusalCode, type CertificateSummary } from './card-check.ts';
export { createCardLoginService, type CardLoginService, type CardLoginRequest } from './card-login.ts';
export { cardRefusalAdvice, certificateFacts, restartBrowserPage } from './card-pages.ts';
export { cardLoginConfigSchema, rollingHost, type CardLoginConfig } from './card-config.ts';
export { openClientCertificateListener, peerCertificatePem, type ClientCertificateListener } from './client-certificate-listener.ts';
export { checkFunctionClientCertificate, subjectDnMatches, type FunctionClientCheck } from './function-client.ts';
