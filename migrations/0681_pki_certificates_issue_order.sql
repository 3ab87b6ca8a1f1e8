-- The eID certificates in the order of issue, a page at a time (eidCertificatesIssued): the portal checks each
-- certificate's holder once and then only those issued after where it got to.
create index pki_certificates_issue_order on pki_certificates (issued_at, serial);
