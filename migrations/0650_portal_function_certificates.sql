-- Function certificates in the portal (issue 9): who may order for which function
-- object, the organisations' validated domains, and the certificates ordered.

-- An orderer authorised for one function object (by a responsible issuer); removal keeps the row.
create table portal_function_orderer (
  id bigint generated always as identity primary key,
  function_object_hsa_id text not null,
  organisation_hsa_id text not null,
  orderer_hsa_id text not null,
  authorised_by text not null,
  authorised_at timestamptz not null,
  removed_by text,
  removed_at timestamptz
);
create unique index portal_function_orderer_current on portal_function_orderer (function_object_hsa_id, orderer_hsa_id) where removed_at is null;
create index portal_function_orderer_holder on portal_function_orderer (orderer_hsa_id) where removed_at is null;

-- A domain an organisation claims, as validated by a validation specialist: how, by whom, until when.
create table portal_domain_validation (
  id bigint generated always as identity primary key,
  organisation_hsa_id text not null,
  domain text not null,
  method text not null check (method in ('dns-txt', 'http-token', 'registrant-email', 'registry-document')),
  evidence text not null,
  validated_by text not null,
  validated_at timestamptz not null,
  valid_until timestamptz not null check (valid_until > validated_at),
  withdrawn_by text,
  withdrawn_at timestamptz
);
create index portal_domain_validation_organisation on portal_domain_validation (organisation_hsa_id) where withdrawn_at is null;

create table portal_function_certificate (
  serial text primary key,
  function_object_hsa_id text not null,
  organisation_hsa_id text not null,
  profile text not null check (profile in ('function-server', 'function-client', 'function-email')),
  certificate_pem text not null,
  -- The issuing chain, issuer first, root last, PEM blocks one after another.
  chain_pem text not null,
  dns_names text[] not null,
  not_after timestamptz not null,
  ordered_by text not null,
  ordered_at timestamptz not null,
  -- The first download; a renewal's predecessor is revoked (superseded) then.
  fetched_at timestamptz,
  -- A renewal: the certificate it replaces, and when that one is revoked at the latest.
  replaces text references portal_function_certificate (serial),
  supersede_at timestamptz,
  revoked_at timestamptz,
  revoked_by text,
  revocation_reason text
);
create index portal_function_certificate_object on portal_function_certificate (function_object_hsa_id);
create index portal_function_certificate_supersede on portal_function_certificate (supersede_at) where supersede_at is not null and revoked_at is null;
