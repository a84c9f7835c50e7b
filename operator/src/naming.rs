//! Deterministic names derived from a Thumbnail: its resizer run (Job), the label values
//! on that run, and its output object. Deterministic so that a restarted operator or a
//! retried reconcile finds the run it already started instead of starting a second one.
//!
//! Every name or label value built from user input goes through [`fit`]: a Thumbnail's
//! name may be 253 characters, a label value only 63, and a value the API server refuses
//! would make the run impossible to start (issue 12: it jammed the queue).

use kube::ResourceExt;

use thumbnail_api::crd::Thumbnail;

/// Longest Job name that stays usable as a label value (`batch.kubernetes.io/job-name`).
const MAX_RUN_NAME: usize = 63;
/// Longest label value Kubernetes accepts.
pub const MAX_LABEL_VALUE: usize = 63;

/// FNV-1a, 64 bit: a stable hash (std's `DefaultHasher` may change between Rust
/// releases, and a name computed by the next operator version must be the same).
fn fnv1a(parts: &[&str]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for b in part.bytes().chain(std::iter::once(0)) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    h
}

/// The run (Job) name for the Thumbnail's current generation:
/// `<name>-g<generation>-<hash of uid and generation>`, at most 63 characters.
/// The uid in the hash keeps a re-created Thumbnail of the same name from adopting the
/// old one's Job while garbage collection has not removed it yet.
pub fn run_name(thumb: &Thumbnail) -> String {
    let generation = thumb.metadata.generation.unwrap_or(0);
    let uid = thumb.metadata.uid.as_deref().unwrap_or("");
    let suffix = format!(
        "-g{generation}-{:08x}",
        fnv1a(&[uid, &generation.to_string()]) as u32
    );
    fit(&thumb.name_any(), &suffix, MAX_RUN_NAME)
}

/// The name of a batch run whose first member is `head` (the one that took the slot)
/// and whose members have the uids `member_uids`: the head's name, then `-b` and a hash
/// of the members and of `nonce`, at most 63 characters. Each batch is a new run — a
/// Thumbnail requeued from a batch runs again under another name, never into the
/// finished run of its first try.
pub fn batch_run_name(head: &Thumbnail, member_uids: &[&str], nonce: &str) -> String {
    let mut parts: Vec<&str> = member_uids.to_vec();
    parts.push(nonce);
    fit(
        &head.name_any(),
        &format!("-b{:08x}", fnv1a(&parts) as u32),
        MAX_RUN_NAME,
    )
}

/// `value` as a label value: itself when Kubernetes accepts it as one, otherwise its
/// first characters (those a label value may hold) and `-<hash of the whole value>`,
/// at most 63 characters. Stable (a pinned hash), so selectors built from it keep
/// matching across operator versions, and distinct for values that share a prefix.
pub fn label_value(value: &str) -> String {
    if is_label_value(value) {
        return value.to_string();
    }
    let cleaned: String = value
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        .collect();
    fit(
        &cleaned,
        &format!("-{:08x}", fnv1a(&[value]) as u32),
        MAX_LABEL_VALUE,
    )
}

/// Whether Kubernetes accepts `value` as a label value: at most 63 characters of
/// `[A-Za-z0-9-_.]`, beginning and ending with a letter or digit (or empty).
pub fn is_label_value(value: &str) -> bool {
    let alnum = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    value.is_empty()
        || (value.len() <= MAX_LABEL_VALUE
            && value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            && alnum(value.chars().next())
            && alnum(value.chars().last()))
}

/// `prefix` cut so that `prefix + suffix` has at most `max` characters, without a
/// separator left dangling at the cut (or at its start), then `suffix` (which must end
/// with a letter or digit). The one way names and label values are shortened here.
fn fit(prefix: &str, suffix: &str, max: usize) -> String {
    let keep = max.saturating_sub(suffix.len());
    let cut: String = prefix.chars().take(keep).collect();
    let cut = cut.trim_matches(|c: char| !c.is_ascii_alphanumeric());
    if cut.is_empty() {
        // Nothing of the prefix is left: the suffix alone, without its separator.
        return suffix
            .trim_start_matches(|c: char| !c.is_ascii_alphanumeric())
            .to_string();
    }
    format!("{cut}{suffix}")
}

/// The object key of the thumbnail produced for `generation`. One key per generation,
/// so objects are immutable (downloads may be cached forever) and an edited spec never
/// overwrites the thumbnail users are still being served.
pub fn output_key(thumb: &Thumbnail, generation: i64) -> String {
    let uid = thumb.metadata.uid.as_deref().unwrap_or("");
    let uid8: String = uid.chars().filter(|c| *c != '-').take(8).collect();
    format!(
        "thumbnails/{}/{}/{uid8}-g{generation}.{}",
        thumb.namespace().unwrap_or_default(),
        thumb.name_any(),
        thumb.spec.format.extension()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use thumbnail_api::crd::{Format, ThumbnailSpec};

    fn thumb(name: &str, uid: &str, generation: i64) -> Thumbnail {
        let spec: ThumbnailSpec = serde_json::from_value(
            serde_json::json!({"source": {"s3": {"key": "a.jpg"}}, "width": 10}),
        )
        .unwrap();
        let mut t = Thumbnail::new(name, spec);
        t.metadata.namespace = Some("media".into());
        t.metadata.uid = Some(uid.into());
        t.metadata.generation = Some(generation);
        t
    }

    #[test]
    fn run_names_are_stable_per_generation_and_uid() {
        let a = run_name(&thumb("cat", "0b8f-11", 1));
        assert_eq!(a, run_name(&thumb("cat", "0b8f-11", 1)));
        assert!(a.starts_with("cat-g1-"), "{a}");
        assert_ne!(a, run_name(&thumb("cat", "0b8f-11", 2)));
        assert_ne!(a, run_name(&thumb("cat", "0b8f-12", 1)));
        // Pinned: a new operator version must compute the same names as the old one.
        assert_eq!(a, "cat-g1-2fd5f877");
    }

    #[test]
    fn run_names_fit_a_label_value_and_end_cleanly() {
        let long = "a".repeat(60) + "-b";
        for name in [
            long.as_str(),
            &"x".repeat(253),
            "ab-c-d-e-f-g-h-i-j-k-l-m-n-o-p-q-r-s-t-u-v-w-x-y-z-0123456789",
        ] {
            let r = run_name(&thumb(name, "u", 12345));
            assert!(r.len() <= 63, "{r} is {} long", r.len());
            assert!(!r.contains("--"), "{r}");
            assert!(r.ends_with(&r[r.len() - 8..]));
        }
    }

    #[test]
    fn label_values_are_always_valid_and_stable() {
        // Short valid values are kept as they are (selectors stay readable).
        assert_eq!(label_value("cat"), "cat");
        assert_eq!(label_value(&"c".repeat(63)), "c".repeat(63));
        let long = "a".repeat(200) + "." + &"b".repeat(52);
        assert_eq!(long.len(), 253);
        for v in [
            long.as_str(),
            &"x".repeat(64),
            &("y".repeat(61) + ".-z"),
            "-.-",
            "über/katze",
            "a..b-",
        ] {
            let l = label_value(v);
            assert!(is_label_value(&l), "{v:?} -> {l:?}");
            assert!(!l.is_empty(), "{v:?}");
            assert_eq!(l, label_value(v), "stable");
        }
        // Values sharing their first 63 characters still get distinct labels.
        assert_ne!(
            label_value(&("p".repeat(70) + "1")),
            label_value(&("p".repeat(70) + "2"))
        );
        // Pinned: a new operator version must compute the same values as the old one.
        assert_eq!(label_value(&"x".repeat(64)), "x".repeat(54) + "-496fe6df");
    }

    #[test]
    fn the_label_value_check_follows_kubernetes() {
        for ok in ["", "a", "a.b-c_d", "A9", &"z".repeat(63)] {
            assert!(is_label_value(ok), "{ok:?}");
        }
        for bad in ["-a", "a-", ".a", "a b", "a/b", &"z".repeat(64), "ä"] {
            assert!(!is_label_value(bad), "{bad:?}");
        }
    }

    #[test]
    fn output_keys_are_per_generation_and_format() {
        let mut t = thumb("cat", "0b8f11aa-bb", 3);
        assert_eq!(output_key(&t, 3), "thumbnails/media/cat/0b8f11aa-g3.jpg");
        t.spec.format = Format::Webp;
        assert_eq!(output_key(&t, 4), "thumbnails/media/cat/0b8f11aa-g4.webp");
    }
}
