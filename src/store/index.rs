//! What the store indexes of an item: its UID, component, instance bounds (so time-range
//! queries touch only candidates) and the folded vCard fields addressbook-query searches.

use super::{Collection, ItemIndex};

/// Check a calendar object for `coll` and compute what the store indexes of it.
pub fn calendar_index(
    text: &str,
    coll: &Collection,
    max_instances: usize,
) -> Result<ItemIndex, crate::caldav::CalError> {
    let allowed: Vec<crate::vocab::ComponentKind> = coll
        .components
        .iter()
        .filter_map(|c| crate::vocab::ComponentKind::parse_calendar(c))
        .collect();
    let info = crate::caldav::inspect(text, &allowed, max_instances)?;
    Ok(ItemIndex {
        uid: Some(info.uid),
        component: Some(info.component),
        first_start: info.first_start,
        last_end: info.last_end,
        fields: Vec::new(),
    })
}

/// Check a vCard and compute what the store indexes of it (UID and searchable fields).
pub fn card_index(text: &str) -> Result<ItemIndex, crate::carddav::CardError> {
    let info = crate::carddav::inspect(text)?;
    Ok(ItemIndex {
        uid: Some(info.uid),
        component: Some(crate::vocab::ComponentKind::Vcard),
        fields: card_fields(text),
        ..Default::default()
    })
}

/// The searchable fields of a vCard as (PROPERTY, value as a text-match tests it); the store
/// keeps each with its folded key ([`crate::carddav::fold`]).
pub fn card_fields(text: &str) -> Vec<(String, String)> {
    crate::carddav::search_fields(text)
}
