//! What a refresh knows of a collection before it lists: the narrow identity map
//! ([`CrmKnown`]: name, CRM id, hash, deleted flag, item present) looked up by CRM id with a
//! binary search and by name through one sorted index, and what the listing showed of each
//! row (one byte per row). At 100,000 records this is about 20 MB, where the whole identity
//! rows, a set of member names and the sets of listed ids took about 60 MB.

use crate::store::{CrmKnown, CrmKnownRow};

/// What the listing showed of a known row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mark {
    /// On no page (yet).
    Unseen,
    /// Listed and in the collection's scope (or deliberately left alone: deleted here, an
    /// invalid rendering).
    Seen,
    /// Listed, but outside the person's scope: never held here.
    OutOfScope,
}

/// The identity map as a refresh found it, and what the listing showed of each row.
pub(super) struct Known {
    map: CrmKnown,
    /// Indexes into `map.rows`, sorted by name.
    by_name: Vec<u32>,
    marks: Vec<Mark>,
}

impl Known {
    /// `map` as the store answered it (rows sorted by CRM id).
    pub(super) fn new(map: CrmKnown) -> Self {
        let mut by_name: Vec<u32> = (0..map.rows.len() as u32).collect();
        by_name
            .sort_unstable_by(|&a, &b| map.rows[a as usize].name.cmp(&map.rows[b as usize].name));
        let marks = vec![Mark::Unseen; map.rows.len()];
        Self {
            map,
            by_name,
            marks,
        }
    }

    /// The index of the row of `crm_id` (for [`Known::row`] and the marks).
    pub(super) fn find(&self, crm_id: &str) -> Option<usize> {
        self.map
            .rows
            .binary_search_by(|r| (*r.crm_id).cmp(crm_id))
            .ok()
    }

    /// Row `i` (from [`Known::find`]).
    pub(super) fn row(&self, i: usize) -> &CrmKnownRow {
        &self.map.rows[i]
    }

    /// The row of `crm_id`.
    pub(super) fn get(&self, crm_id: &str) -> Option<&CrmKnownRow> {
        self.find(crm_id).map(|i| self.row(i))
    }

    /// Whether `name` is taken: by an identity row or by an item without one.
    pub(super) fn name_taken(&self, name: &str) -> bool {
        self.by_name
            .binary_search_by(|&i| (*self.map.rows[i as usize].name).cmp(name))
            .is_ok()
            || self
                .map
                .other_names
                .binary_search_by(|n| (**n).cmp(name))
                .is_ok()
    }

    /// The listing showed row `i` in scope.
    pub(super) fn mark_seen(&mut self, i: usize) {
        self.marks[i] = Mark::Seen;
    }

    /// The listing showed row `i` outside the person's scope (a row it also showed inside,
    /// the listing having shifted while it paged, stays seen).
    pub(super) fn mark_out_of_scope(&mut self, i: usize) {
        if self.marks[i] != Mark::Seen {
            self.marks[i] = Mark::OutOfScope;
        }
    }

    /// The rows the listing did not show in scope, each with whether it showed it outside.
    pub(super) fn not_seen(&self) -> impl Iterator<Item = (&CrmKnownRow, bool)> {
        self.map
            .rows
            .iter()
            .zip(&self.marks)
            .filter(|(_, m)| **m != Mark::Seen)
            .map(|(r, m)| (r, *m == Mark::OutOfScope))
    }
}

impl CrmKnownRow {
    /// Held unchanged: not deleted here, the same record hash, its item there.
    pub(super) fn unchanged(&self, hash: &str) -> bool {
        !self.deleted && self.present && self.record_hash.as_deref() == Some(hash)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(name: &str, crm_id: &str) -> CrmKnownRow {
        CrmKnownRow {
            name: name.into(),
            crm_id: crm_id.into(),
            record_hash: Some("h".into()),
            deleted: false,
            present: true,
        }
    }

    #[test]
    fn finds_rows_by_crm_id_and_names_by_name_and_reports_what_was_not_seen() {
        let mut k = Known::new(
            CrmKnown {
                rows: vec![row("z.vcf", "1"), row("a.vcf", "3"), row("m.vcf", "2")],
                other_names: vec!["phone.vcf".into()],
            }
            .sorted(),
        );
        let i1 = k.find("1").expect("row 1");
        assert_eq!(&*k.row(i1).name, "z.vcf");
        let i3 = k.find("3").expect("row 3");
        assert_eq!(&*k.get("2").expect("row 2").name, "m.vcf");
        assert!(k.find("4").is_none());
        for n in ["a.vcf", "m.vcf", "z.vcf", "phone.vcf"] {
            assert!(k.name_taken(n), "{n}");
        }
        assert!(!k.name_taken("b.vcf"));
        k.mark_seen(i1);
        k.mark_out_of_scope(i1);
        k.mark_out_of_scope(i3);
        let left: Vec<(&str, bool)> = k.not_seen().map(|(r, o)| (&*r.crm_id, o)).collect();
        assert_eq!(left, vec![("2", false), ("3", true)]);
        assert!(k.row(i1).unchanged("h"));
        assert!(!k.row(i1).unchanged("other"));
    }
}
