-- Installation secrets of the SAML IdP (the key persistent pairwise NameIDs
-- are made with), sealed like the IdP's private keys.
create table saml_secrets (
  name text primary key,
  value_encrypted bytea not null,
  created_at timestamptz not null default now()
);
