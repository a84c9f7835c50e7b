//! Which stored objects belong to whom: where the REST shim stores the originals it
//! uploads, and the one rule by which the operator may delete a source object.
//!
//! Ownership comes from the location alone, never from anything a user writes on the
//! resource (labels, annotations): the shim's uploads bucket is the operator's setting,
//! and the key holds the Thumbnail's namespace and name. So a user who points a
//! Thumbnail at someone else's object (or edits a shim-created one to do so) can at
//! most make the operator delete the shim's original of that same Thumbnail.

/// Top-level prefix of every original the shim stores (in its uploads bucket).
pub const ORIGINALS_PREFIX: &str = "originals/";

/// The prefix under which the shim stores the originals of `namespace`'s Thumbnails:
/// `originals/<namespace>/`. A Thumbnail in that namespace may always read from it
/// (the source policy's built-in rule).
pub fn shim_originals_prefix(namespace: &str) -> String {
    format!("{ORIGINALS_PREFIX}{namespace}/")
}

/// The key of the original the shim uploaded for the Thumbnail `namespace`/`name`:
/// `originals/<namespace>/<name>`. Namespace and resource names never contain '/', so
/// no two Thumbnails share a key.
pub fn shim_original_key(namespace: &str, name: &str) -> String {
    format!("{}{name}", shim_originals_prefix(namespace))
}

/// Most members a group can have: the member suffix is two digits.
pub const MAX_GROUP_MEMBERS: usize = 99;

/// The name of the `index`-th (1-based, at most [`MAX_GROUP_MEMBERS`]) Thumbnail of the
/// group `group`: `<group>-01`, ... Zero-padded, so members sort in their order.
pub fn group_member_name(group: &str, index: usize) -> String {
    debug_assert!((1..=MAX_GROUP_MEMBERS).contains(&index));
    format!("{group}-{index:02}")
}

/// The group a Thumbnail's name makes it a member of: `g` for a name `g-NN` (two ASCII
/// digits, not `00`); none for any other name.
pub fn group_of(name: &str) -> Option<&str> {
    let (group, suffix) = name.rsplit_once('-')?;
    let member = suffix.len() == 2 && suffix.bytes().all(|b| b.is_ascii_digit()) && suffix != "00";
    (member && !group.is_empty()).then_some(group)
}

/// The names that may hold the shim original `originals/<ns>/<owner>`: `owner` itself
/// (a single upload) and its group members `<owner>-01` ... `<owner>-99`. The operator
/// looks these up in its cache to learn who still uses an original: by name, never by
/// a label or annotation.
pub fn holders(owner: &str) -> impl Iterator<Item = String> + '_ {
    std::iter::once(owner.to_string())
        .chain((1..=MAX_GROUP_MEMBERS).map(move |i| group_member_name(owner, i)))
}

/// The shim originals the Thumbnail `name` may hold (see [`holders`]), by their
/// owner's name: its own (`name`), and its group's when `name` is a member's.
pub fn owners_of(name: &str) -> Vec<&str> {
    let mut owners = vec![name];
    owners.extend(group_of(name));
    owners
}

/// Whether `bucket`/`key` is exactly the shim's original of the Thumbnail
/// `namespace`/`name`, given the shim's uploads bucket: its own
/// (`originals/<ns>/<name>`) or, for a group member `<g>-NN`, its group's
/// (`originals/<ns>/<g>`). The only source objects the operator ever deletes, and a
/// group's only when no other member uses it.
pub fn is_shim_original(
    bucket: &str,
    key: &str,
    namespace: &str,
    name: &str,
    uploads_bucket: &str,
) -> bool {
    !uploads_bucket.is_empty()
        && !namespace.is_empty()
        && !name.is_empty()
        && bucket == uploads_bucket
        && owners_of(name)
            .iter()
            .any(|owner| key == shim_original_key(namespace, owner))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_hold_namespace_and_name() {
        assert_eq!(shim_originals_prefix("media"), "originals/media/");
        assert_eq!(shim_original_key("media", "01abc"), "originals/media/01abc");
    }

    #[test]
    fn only_the_exact_location_is_owned() {
        let owned = |b: &str, k: &str, ns: &str, n: &str| is_shim_original(b, k, ns, n, "uploads");
        assert!(owned("uploads", "originals/media/01abc", "media", "01abc"));
        // Another bucket, another namespace's or Thumbnail's original, another key.
        assert!(!owned("payroll", "2025.xlsx", "media", "01abc"));
        assert!(!owned("payroll", "originals/media/01abc", "media", "01abc"));
        assert!(!owned("uploads", "originals/other/01abc", "media", "01abc"));
        assert!(!owned("uploads", "originals/media/01abd", "media", "01abc"));
        assert!(!owned(
            "uploads",
            "originals/media/01abc/x",
            "media",
            "01abc"
        ));
        assert!(!owned("uploads", "originals/01abc", "media", "01abc"));
        // Nothing is owned without a bucket, a namespace or a name.
        assert!(!is_shim_original("", "originals/media/x", "media", "x", ""));
        assert!(!owned("uploads", "originals//", "", ""));
    }

    #[test]
    fn group_members_hold_the_groups_original() {
        let g = "01kc0group";
        assert_eq!(group_member_name(g, 1), "01kc0group-01");
        assert_eq!(group_member_name(g, 16), "01kc0group-16");
        assert_eq!(group_of("01kc0group-07"), Some(g));
        for not_a_member in [
            "01kc0group",
            "cat-7",
            "cat-007",
            "cat-0a",
            "-01",
            "cat-00",
            "cat",
        ] {
            assert_eq!(group_of(not_a_member), None, "{not_a_member}");
        }
        let owned = |k: &str, n: &str| is_shim_original("uploads", k, "media", n, "uploads");
        assert!(owned("originals/media/01kc0group", "01kc0group-03"));
        // Its own key is still its own; another group's, or a member's own, is not.
        assert!(owned("originals/media/01kc0group-03", "01kc0group-03"));
        assert!(!owned("originals/media/01kc0other", "01kc0group-03"));
        assert!(!owned("originals/media/01kc0group-04", "01kc0group-03"));
        assert!(!owned("originals/other/01kc0group", "01kc0group-03"));
        let names: Vec<String> = holders(g).collect();
        assert_eq!(names.len(), 1 + MAX_GROUP_MEMBERS);
        assert_eq!(names[0], g);
        assert_eq!(names[1], "01kc0group-01");
        assert_eq!(names[99], "01kc0group-99");
        assert_eq!(owners_of("01kc0group-02"), ["01kc0group-02", g]);
        assert_eq!(owners_of(g), [g]);
    }
}
