-- Systems (IdPs) allowed to start authentication and signing orders.
create table authn_callers (
  id text primary key,
  display_name text not null,
  secret_salt bytea not null,
  secret_hash bytea not null,
  created_at timestamptz not null default now(),
  disabled_at timestamptz
);
