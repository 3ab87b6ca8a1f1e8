-- Relying parties of the OpenID Provider. The secret is encrypted (AES-256-GCM
-- under the IdP's encryption key), never stored in the clear: oidc-provider must
-- compare it, so a one-way hash would not do.
create table oidc_clients (
  client_id text primary key,
  display_name text not null,
  redirect_uris text[] not null,
  post_logout_redirect_uris text[] not null default '{}',
  public boolean not null default false,
  secret_encrypted bytea,
  token_endpoint_auth_method text not null,
  jwks_uri text,
  jwks jsonb,
  methods text[] not null,
  allowed_claims text[] not null,
  backchannel_logout_uri text,
  subject_type text not null default 'pairwise',
  created_at timestamptz not null default now(),
  secret_rotated_at timestamptz
);

-- ID-token signing keys. `next` is published but does not sign yet, `current`
-- signs, `retired` is published until every token it signed has expired.
create table oidc_signing_keys (
  kid text primary key,
  state text not null check (state in ('next', 'current', 'retired')),
  private_jwk_encrypted bytea not null,
  created_at timestamptz not null,
  signs_from timestamptz not null,
  retired_at timestamptz
);

create table oidc_secrets (
  name text primary key,
  value_encrypted bytea not null,
  created_at timestamptz not null default now()
);
