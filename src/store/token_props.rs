//! Property tests of sync tokens (RFC 6578 §3.2): every token a collection issues decodes to
//! its sequence while it is within the collection's window, and anything else (another
//! collection's token, an expired or future one, garbage) is refused without a panic.

use super::{Collection, CollectionKind};
use proptest::prelude::*;

fn collection(instance: String, min_seq: i64, seq: i64) -> Collection {
    Collection {
        id: 1,
        path: "calendars/alice/work/".into(),
        kind: CollectionKind::Calendar,
        components: vec!["VEVENT".into()],
        seq,
        min_seq,
        instance,
        epoch: String::new(),
        prev: None,
        modified: 0,
        created: 0,
    }
}

/// Instances as `uuid` writes them, and some with colons (the token's own separator).
fn instance() -> impl Strategy<Value = String> {
    prop_oneof![
        "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
        "[a-z0-9:-]{1,40}"
    ]
}

/// A collection with a window `[min_seq, seq]` and a sequence inside it.
fn window() -> impl Strategy<Value = (i64, i64, i64)> {
    (0i64..1_000_000, 0i64..1_000_000)
        .prop_flat_map(|(min, len)| (Just(min), Just(min + len), min..=min + len))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn issued_tokens_decode_to_their_sequence(inst in instance(), (min, seq, s) in window()) {
        let c = collection(inst, min, seq);
        prop_assert_eq!(c.parse_token(&c.token(s)), Some(s));
        prop_assert_eq!(c.parse_token(&c.sync_token()), Some(seq));
    }

    #[test]
    fn tokens_outside_the_window_or_of_another_collection_are_refused(
        inst in instance(),
        other in instance(),
        (min, seq, s) in window(),
        before in 1i64..1_000,
        after in 1i64..1_000,
    ) {
        let c = collection(inst.clone(), min, seq);
        prop_assert_eq!(c.parse_token(&c.token(min - before)), None);
        prop_assert_eq!(c.parse_token(&c.token(seq + after)), None);
        if other != inst {
            let o = collection(other, min, seq);
            prop_assert_eq!(c.parse_token(&o.token(s)), None);
        }
    }

    #[test]
    fn garbage_is_refused(inst in instance(), (min, seq, _) in window(), t in any::<String>()) {
        let c = collection(inst, min, seq);
        // Whatever decodes is exactly a token this collection issued.
        if let Some(s) = c.parse_token(&t) {
            prop_assert_eq!(c.token(s), t);
        }
    }

    #[test]
    fn other_spellings_of_an_issued_token_are_refused(
        inst in instance(),
        (min, seq, s) in window(),
        spelling in prop::sample::select(vec!["+{}", "0{}", " {}", "{} ", "{}:", "{}.0", "-0{}"]),
    ) {
        let c = collection(inst, min, seq);
        let t = format!("urn:crmdav:sync:{}:{}", c.instance, spelling.replace("{}", &s.to_string()));
        prop_assert_eq!(c.parse_token(&t), None, "{}", t);
    }
}

/// Restore safety: a collection restored from a backup taken at `at` (then moved on to `seq`)
/// under a new epoch.
fn restored(instance: String, at: i64, seq: i64) -> Collection {
    Collection {
        epoch: "e2".into(),
        prev: Some((String::new(), at)),
        ..collection(instance, 0, seq)
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn after_a_restore_only_tokens_up_to_the_backup_stay_valid(
        inst in instance(),
        at in 0i64..1_000,
        more in 0i64..1_000,
        s in 0i64..2_000,
    ) {
        let seq = at + more;
        let c = restored(inst.clone(), at, seq);
        let before = collection(inst, 0, seq);
        // A token of the timeline before the restore: valid up to the backup, never after,
        // even where the restored timeline has reached that sequence again.
        let want = (s <= at).then_some(s);
        prop_assert_eq!(c.parse_token(&before.token(s)), want);
        // Tokens of the new epoch decode within the window.
        prop_assert_eq!(c.parse_token(&c.token(s)), (s <= seq).then_some(s));
        // Another epoch's are refused.
        let other = Collection { epoch: "e9".into(), ..c.clone() };
        prop_assert_eq!(c.parse_token(&other.token(s.min(at))), None);
    }
}
