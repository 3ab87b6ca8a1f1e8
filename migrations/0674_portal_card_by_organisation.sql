-- Status listings read an organisation's cards in id order, a limit at a time.
create index portal_card_organisation_id on portal_card (organisation_hsa_id, id);
