export { createOrderService, challengeBytes, OrderError } from './orders.ts';
export type { OrderService, OrderServiceOptions, OrderKind, OrderTokens, Challenge, CollectResult, Completion, AppAnswer, AnswerVerifier, AnswerVerdict, Requirements, Requester, PendingHint, FailedHint } from './orders.ts';
export { qrContent, parseQr } from './qr.ts';
export { addCaller, authenticateCaller, CallerError, type Caller } from './callers.ts';
export { authnRoutes } from './http.ts';
export { checkEidCertificate, type EidTrust, type CheckedEid, type EidCheck, type RevocationStatus } from './eid-certificate.ts';
export { createAnswerVerifier, type AnswerVerifierOptions, type KnownPerson } from './verify-answer.ts';
export { createAuthnPart, authnFrom, type AuthnServices } from './part.ts';
