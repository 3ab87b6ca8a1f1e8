-- Reports (issue 10): a card expires when its certificates do, without a
-- write, so the reports count it from the time its last certificate ends
-- (like function certificates' not_after). The card keeps that time,
-- written when its certificates are recorded at production.
alter table portal_card add column certificates_not_after timestamptz;

-- Cards produced before: their certificates' end read once from the PKI's
-- record of every certificate issued (a one-off read of pki_certificates in
-- this migration; the portal's code takes the time from the PKI's answer).
update portal_card c set certificates_not_after = x.not_after
  from (select cc.card_id, max(p.not_after) as not_after
          from portal_card_certificate cc join pki_certificates p on p.serial = cc.serial group by cc.card_id) x
 where x.card_id = c.id;

-- The status report counts an organisation's active cards past that time, the
-- event report those that ended in its range: both read this index alone.
create index portal_card_expiry on portal_card (organisation_hsa_id, certificates_not_after)
  include (unit_hsa_id, kind, loa, status, updated_at) where certificates_not_after is not null;
