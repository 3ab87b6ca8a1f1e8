-- Certificate authorities: generated at first start or imported. Keys are encrypted PKCS#8.
create table pki_cas (
  id text primary key,
  parent_id text references pki_cas (id),
  algorithm text not null,
  certificate_der bytea not null,
  encrypted_key_pem text not null,
  imported boolean not null default false,
  created_at timestamptz not null default now()
);

-- Every certificate issued, forever. The serial (lower-case hex, positive) is unique across all CAs.
create table pki_certificates (
  serial text primary key,
  ca_id text not null references pki_cas (id),
  profile text not null,
  subject text not null,
  identifier text,
  not_before timestamptz not null,
  not_after timestamptz not null,
  der bytea not null,
  issued_at timestamptz not null default now(),
  revoked_at timestamptz,
  revocation_reason text,
  invalidity_date timestamptz,
  on_hold boolean not null default false
);
create index pki_certificates_revoked on pki_certificates (ca_id, revoked_at) where revoked_at is not null;
create index pki_certificates_identifier on pki_certificates (identifier);

-- Each CA's delegated OCSP responder (id-pkix-ocsp-nocheck), renewed before it expires.
create table pki_ocsp_responders (
  ca_id text primary key references pki_cas (id),
  certificate_der bytea not null,
  encrypted_key_pem text not null,
  not_after timestamptz not null
);

-- CRL numbers must only grow (RFC 5280 §5.2.3), across restarts and nodes.
create table pki_crl_numbers (
  ca_id text primary key references pki_cas (id),
  last_number bigint not null
);

-- What happened to certificates and CAs, and who asked: kept as the revocation record.
create table pki_events (
  id bigserial primary key,
  at timestamptz not null default now(),
  action text not null,
  serial text,
  ca_id text,
  actor text not null,
  details jsonb not null default '{}'
);
create index pki_events_serial on pki_events (serial);
