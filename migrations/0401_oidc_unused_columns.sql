-- Columns 0400 made that nothing reads: a client's keys come from its JWKS URI,
-- and `sub` is pairwise for every client.
alter table oidc_clients drop column jwks;
alter table oidc_clients drop column subject_type;
