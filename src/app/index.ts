export { openKeyStore, KeyStoreError, MAX_PIN_ATTEMPTS, type KeyStore, type Credential, type CredentialKind, type CredentialUse } from './keystore.ts';
export { approveOrder, postJson, AppRequestError, type AppServer, type ShownChallenge, type StartedBy, type ApproveOptions } from './client.ts';
export { enrollMobileEid, enrollWithCode, certificateRequest, type IssuedEid } from './enrol.ts';
export { importCard, cardTlsCredentials, usesOf, type CardTlsCredentials } from './card.ts';
