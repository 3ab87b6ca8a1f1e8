-- A counter per CA that every revocation bumps, so every node can tell cheaply that its CRL and OCSP caches are stale.
create table pki_ca_revisions (
  ca_id text primary key references pki_cas (id),
  revision bigint not null default 0
);
