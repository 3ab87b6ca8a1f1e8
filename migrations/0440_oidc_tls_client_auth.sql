-- RFC 8705 tls_client_auth: the subject DN a client's function certificate must carry.
alter table oidc_clients add column tls_client_auth_subject_dn text;
