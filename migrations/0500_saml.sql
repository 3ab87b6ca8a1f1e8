-- The SAML IdP's key pairs: one signs responses and metadata, one lets SPs
-- encrypt to us. The private key is sealed (AES-256-GCM under the IdP's
-- encryption key), so a database dump or replica alone never reveals it.
create table saml_idp_keys (
  use text primary key check (use in ('signing', 'encryption')),
  private_key_encrypted bytea not null,
  certificate_pem text not null,
  created_at timestamptz not null default now()
);

-- Service providers (e-services that log in over SAML). `metadata_xml` is the
-- SP's metadata as registered; `descriptor` is what we read from it (endpoints,
-- keys, flags), so a request never parses the metadata again.
create table saml_service_providers (
  entity_id text primary key,
  display_name text not null,
  display_names jsonb not null,
  metadata_xml text not null,
  metadata_source text not null,
  descriptor jsonb not null,
  methods text[] not null,
  allowed_attributes text[] not null,
  attribute_profile text not null check (attribute_profile in ('sambi', 'oid')),
  require_signed_requests boolean not null,
  sign_assertions boolean not null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
