/**
 * The healthcare attribute rules both protocols share (domain.md §8–9): the
 * claim set, what the person must choose, pre-selection, and building the
 * released values from the login, the certificate and the directory. OIDC
 * calls them claims, SAML attributes; the names inside Tillit are OIDC's.
 */
export {
  SCOPES,
  CLAIM_NAMES,
  DEFAULT_ALLOWED_CLAIMS,
  grantedClaims,
  parseClaimsParameter,
  pinnedValues,
  choiceNeeded,
  mayNeedChoice,
  buildClaims,
  ClaimsParameterError,
  type Choice,
  type ChoiceNeed,
  type ClaimRequest,
  type RequestedClaims,
} from './claims.ts';
