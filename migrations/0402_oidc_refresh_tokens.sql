-- Refresh tokens are a per-client decision (an e-service that keeps people logged in for hours).
alter table oidc_clients add column refresh_tokens boolean not null default false;
