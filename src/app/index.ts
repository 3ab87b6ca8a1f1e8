export { openKeyStore, KeyStoreError, MAX_PIN_ATTEMPTS, type KeyStore, type Credential, type CredentialKind } from './keystore.ts';
