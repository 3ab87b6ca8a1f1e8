-- Mobile eID enrolment: the one-time codes handed out (kept as SHA-256 hashes,
-- so the table never holds a usable code) and the mobile eIDs enrolled with them.
create table authn_enrolment_codes (
  code_hash bytea primary key,
  personnummer text not null,
  requested_by text not null,
  created_at timestamptz not null,
  expires_at timestamptz not null,
  used_at timestamptz,
  certificate_serial text
);
create index authn_enrolment_codes_person on authn_enrolment_codes (personnummer, created_at);

create table authn_mobile_eids (
  serial text primary key,
  personnummer text not null,
  enrolled_at timestamptz not null,
  not_after timestamptz not null,
  enrolment_code_hash bytea not null references authn_enrolment_codes (code_hash),
  device_label text
);
create index authn_mobile_eids_person on authn_mobile_eids (personnummer, not_after);
