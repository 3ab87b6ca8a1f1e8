-- Reports (issue 10) count mobile eIDs per organisation and unit, but a mobile
-- eID belongs to a person, not an organisation. It is placed where its holder
-- worked when it was enrolled (one place per organisation: the holder's
-- current service identity there with the lowest HSA-id), written by the
-- enrolment in the same transaction. A place fixed at enrolment keeps the
-- history stable: a report of last year does not change when the holder moves.
create table authn_mobile_eid_place (
  serial text not null references authn_mobile_eids (serial),
  organisation_hsa_id text not null,
  unit_hsa_id text,
  -- The service identity the holder had there (listings name it as the subject).
  holder_hsa_id text not null,
  primary key (serial, organisation_hsa_id)
);
create index authn_mobile_eid_place_organisation on authn_mobile_eid_place (organisation_hsa_id, unit_hsa_id);

-- Mobile eIDs enrolled before this migration: placed where their holder works
-- now (the directory's current service identities; the best there is to know).
insert into authn_mobile_eid_place (serial, organisation_hsa_id, unit_hsa_id, holder_hsa_id)
select distinct on (m.serial, s.organisation_hsa_id) m.serial, s.organisation_hsa_id, s.unit_hsa_id, s.hsa_id
  from authn_mobile_eids m
  join directory_person p on p.personnummer = m.personnummer
  join directory_service_identity s on s.person_id = p.id and s.valid_to is null
 order by m.serial, s.organisation_hsa_id, s.hsa_id;

-- What the reports read: authn's published shape of its mobile eIDs, each
-- with its place and its state in the PKI (revocation lives in the PKI's
-- record of the certificate; a certificate on hold is not revoked).
create view authn_mobile_eid_report as
select m.serial, m.personnummer, pl.organisation_hsa_id, pl.unit_hsa_id, pl.holder_hsa_id, m.enrolled_at, m.not_after,
       case when not c.on_hold then c.revoked_at end as revoked_at,
       case when not c.on_hold then c.revocation_reason end as revocation_reason
  from authn_mobile_eid_place pl
  join authn_mobile_eids m on m.serial = pl.serial
  left join pki_certificates c on c.serial = m.serial;
