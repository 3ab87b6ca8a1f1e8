-- The CRL writer reads a CA's revoked certificates in serial order, a page at a time: an index range scan per page.
create index pki_certificates_revoked_serial on pki_certificates (ca_id, serial) where revoked_at is not null;
