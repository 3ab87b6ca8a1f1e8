-- RFC 7522: a client may trade assertions issued to this SAML SP (its entityID) for access tokens.
alter table oidc_clients add column saml_entity_id text;
