-- A caller (an IdP) may authenticate with its function client certificate over
-- mutual TLS instead of a secret: it is then registered by the certificate's
-- subject DN (RFC 4514 text as @peculiar/x509 prints it) and has no secret.
alter table authn_callers alter column secret_salt drop not null;
alter table authn_callers alter column secret_hash drop not null;
alter table authn_callers add column tls_subject_dn text unique;
alter table authn_callers add constraint authn_callers_one_credential
  check ((secret_hash is not null and secret_salt is not null and tls_subject_dn is null)
      or (secret_hash is null and secret_salt is null and tls_subject_dn is not null));
