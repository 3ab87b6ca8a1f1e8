export { openKeyStore, KeyStoreError, MAX_PIN_ATTEMPTS, type KeyStore, type Credential, type CredentialKind } from './keystore.ts';
export { approveOrder, postJson, AppRequestError, type AppServer, type ShownChallenge, type StartedBy, type ApproveOptions } from './client.ts';
