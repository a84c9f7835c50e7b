//! The source policy (issue 12): which objects a Thumbnail may name as its source.
//! The operator reads sources with its own store identity on behalf of whoever can
//! create a Thumbnail, so without a policy any namespace could read (and have the shim
//! serve, resized to 8192 pixels) any object those credentials reach.
//!
//! A Thumbnail in namespace N may read:
//! - `<uploads bucket>/originals/N/`: what the REST shim uploaded in N, always;
//! - what the administrator allows for N with `--source-allow` / `SOURCE_ALLOW`
//!   (chart value `operator.sourcePolicy.allow`).
//!
//! Syntax of `SOURCE_ALLOW`: rules separated by `,` or `;` (spaces around them are
//! ignored), each `NAMESPACE=BUCKET/PREFIX`:
//! - NAMESPACE: a namespace name, or `*` for every namespace;
//! - BUCKET: a bucket name;
//! - PREFIX: empty (the whole bucket) or a key prefix ending in `/`, which may contain
//!   `{namespace}` for the Thumbnail's namespace.
//!
//! e.g. `team-a=photos/, team-a=media/team-a/; *=public-assets/, *=media/shared/{namespace}/`.
//!
//! Keys with `.` or `..` segments, empty segments (`a//b`) or backslashes are refused
//! whatever the policy: some stores resolve them like paths, which would step out of an
//! allowed prefix (`originals/N/../M/x`).

use std::fmt;

use thumbnail_api::ownership::shim_originals_prefix;

/// The placeholder a rule's prefix may use for the Thumbnail's namespace.
pub const NAMESPACE_PLACEHOLDER: &str = "{namespace}";

/// One `NAMESPACE=BUCKET/PREFIX` rule.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Rule {
    /// `None`: every namespace (`*`).
    namespace: Option<String>,
    bucket: String,
    /// Empty or ending in '/'; may hold [`NAMESPACE_PLACEHOLDER`].
    prefix: String,
}

/// What an administrator allows beyond each namespace's own shim originals.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SourcePolicy {
    rules: Vec<Rule>,
}

/// Why a source was refused: the Thumbnail's status message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotAllowed(pub String);

impl fmt::Display for NotAllowed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

const SYNTAX: &str = "write NAMESPACE=BUCKET/PREFIX rules separated by ',' or ';', e.g. \
     \"team-a=photos/,*=media/shared/{namespace}/\" (NAMESPACE a namespace or *; PREFIX empty \
     for the whole bucket, or ending in '/')";

fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

fn is_bucket_name(s: &str) -> bool {
    (3..=63).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        && s.as_bytes()[0].is_ascii_alphanumeric()
        && s.as_bytes()[s.len() - 1].is_ascii_alphanumeric()
}

/// Why `key` (a source key, or a rule's prefix) could step out of a prefix, if it could.
fn unsafe_key(key: &str) -> Option<&'static str> {
    if key.contains('\\') {
        return Some("contains a backslash");
    }
    if key.chars().any(char::is_control) {
        return Some("contains a control character");
    }
    let segments: Vec<&str> = key.split('/').collect();
    // A trailing '/' leaves one empty last segment: allowed (a prefix, a "folder").
    let inner = &segments[..segments.len().saturating_sub(1)];
    if inner.iter().any(|s| s.is_empty()) {
        return Some("has an empty path segment ('//' or a leading '/')");
    }
    if segments.iter().any(|s| *s == "." || *s == "..") {
        return Some("has a '.' or '..' path segment");
    }
    None
}

impl SourcePolicy {
    /// Parses `SOURCE_ALLOW`; the error says what is wrong and what to write.
    pub fn parse(text: &str) -> Result<SourcePolicy, String> {
        let mut rules = Vec::new();
        for raw in text.split([',', ';']) {
            let item = raw.trim();
            if item.is_empty() {
                continue;
            }
            let (namespace, location) = item
                .split_once('=')
                .ok_or_else(|| format!("source policy rule {item:?} has no '=': {SYNTAX}"))?;
            let namespace = namespace.trim();
            let location = location.trim();
            let namespace = match namespace {
                "*" => None,
                ns if is_dns_label(ns) => Some(ns.to_string()),
                ns => {
                    return Err(format!(
                        "source policy rule {item:?}: {ns:?} is not a namespace name or *: {SYNTAX}"
                    ))
                }
            };
            let (bucket, prefix) = location.split_once('/').ok_or_else(|| {
                format!(
                    "source policy rule {item:?}: {location:?} has no '/' after the bucket; write {location}/ for the whole bucket or {location}/PREFIX/ for part of it"
                )
            })?;
            if !is_bucket_name(bucket) {
                return Err(format!(
                    "source policy rule {item:?}: {bucket:?} is not a bucket name (3-63 of a-z, 0-9, '.', '-'): {SYNTAX}"
                ));
            }
            if !prefix.is_empty() && !prefix.ends_with('/') {
                return Err(format!(
                    "source policy rule {item:?}: the prefix {prefix:?} must end in '/' (write {bucket}/{prefix}/), so that it cannot match look-alike keys such as {prefix}-other"
                ));
            }
            if let Some(why) = unsafe_key(prefix) {
                return Err(format!(
                    "source policy rule {item:?}: the prefix {prefix:?} {why}: {SYNTAX}"
                ));
            }
            let without_placeholder = prefix.replace(NAMESPACE_PLACEHOLDER, "");
            if without_placeholder.contains(['{', '}']) {
                return Err(format!(
                    "source policy rule {item:?}: the only placeholder is {NAMESPACE_PLACEHOLDER}"
                ));
            }
            rules.push(Rule {
                namespace,
                bucket: bucket.to_string(),
                prefix: prefix.to_string(),
            });
        }
        Ok(SourcePolicy { rules })
    }

    /// The locations (`bucket/prefix`) `namespace` may read, the shim's originals first.
    pub fn allowed(&self, namespace: &str, uploads_bucket: &str) -> Vec<(String, String)> {
        let mut all = vec![(uploads_bucket.to_string(), shim_originals_prefix(namespace))];
        for rule in &self.rules {
            if rule.namespace.as_deref().is_none_or(|ns| ns == namespace) {
                let prefix = rule.prefix.replace(NAMESPACE_PLACEHOLDER, namespace);
                all.push((rule.bucket.clone(), prefix));
            }
        }
        all
    }

    /// Whether a Thumbnail in `namespace` may read `bucket`/`key`. The refusal names
    /// what the namespace may read and how to allow more; it never depends on the
    /// object (whether it exists, its size), which is not looked at.
    pub fn check(
        &self,
        namespace: &str,
        bucket: &str,
        key: &str,
        uploads_bucket: &str,
    ) -> Result<(), NotAllowed> {
        if let Some(why) = unsafe_key(key) {
            return Err(NotAllowed(format!(
                "spec.source.s3.key {key:?} {why}; such keys are never read (stores may resolve them like paths): name the object by its plain key"
            )));
        }
        let allowed = self.allowed(namespace, uploads_bucket);
        if allowed
            .iter()
            .any(|(b, prefix)| b == bucket && key.starts_with(prefix.as_str()))
        {
            return Ok(());
        }
        let list: Vec<String> = allowed.iter().map(|(b, p)| format!("{b}/{p}")).collect();
        Err(NotAllowed(format!(
            "Thumbnails in namespace {namespace} may read sources only under {}; s3://{bucket}/{key} is not among them. Upload the image through the REST API, or ask an administrator to allow it with the operator's SOURCE_ALLOW (chart value operator.sourcePolicy.allow), e.g. {namespace}={bucket}/{}",
            list.join(", "),
            suggested_prefix(key),
        )))
    }
}

/// The "folder" of `key` (up to its last '/'), for the example rule in a refusal.
fn suggested_prefix(key: &str) -> &str {
    key.rfind('/').map(|i| &key[..=i]).unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    const UPLOADS: &str = "uploads";

    fn policy(text: &str) -> SourcePolicy {
        SourcePolicy::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn each_namespace_reads_its_own_shim_originals_and_nothing_else_by_default() {
        let p = SourcePolicy::default();
        assert!(p
            .check("team-a", UPLOADS, "originals/team-a/01abc", UPLOADS)
            .is_ok());
        for (bucket, key) in [
            // Another namespace's originals.
            (UPLOADS, "originals/team-b/01abc"),
            // Another bucket.
            ("payroll", "2025.xlsx"),
            ("payroll", "originals/team-a/01abc"),
            // Prefix tricks.
            (UPLOADS, "originals/team-a-other/01abc"),
            (UPLOADS, "originals/team-a"),
            (UPLOADS, "originals/team-a/../team-b/01abc"),
            (UPLOADS, "originals/team-a/./x"),
            (UPLOADS, "originals/team-a//x"),
            (UPLOADS, "originals/team-a/..\\team-b\\x"),
            // Other namespaces' thumbnails live in the same bucket.
            (UPLOADS, "thumbnails/team-b/cat/0b8f11aa-g1.jpg"),
        ] {
            let err = p.check("team-a", bucket, key, UPLOADS).unwrap_err();
            assert!(!err.0.is_empty(), "{bucket}/{key}");
        }
    }

    #[test]
    fn refusals_say_what_is_allowed_and_how_to_allow_more() {
        let p = policy("team-a=photos/");
        let err = p
            .check("team-a", "payroll", "2025/q1.xlsx", UPLOADS)
            .unwrap_err()
            .0;
        assert!(err.contains("uploads/originals/team-a/, photos/"), "{err}");
        assert!(
            err.contains("SOURCE_ALLOW") && err.contains("operator.sourcePolicy.allow"),
            "{err}"
        );
        assert!(err.contains("team-a=payroll/2025/"), "{err}");
        let err = p
            .check("team-a", UPLOADS, "originals/team-a/../team-b/x", UPLOADS)
            .unwrap_err()
            .0;
        assert!(err.contains("'..'"), "{err}");
    }

    #[test]
    fn administrators_allow_buckets_and_prefixes_per_namespace() {
        let p = policy(
            " team-a=photos/, team-a=media/team-a/; *=public-assets/ ,*=shared/{namespace}/ ",
        );
        let ok = |ns: &str, b: &str, k: &str| p.check(ns, b, k, UPLOADS).is_ok();
        assert!(ok("team-a", "photos", "2024/cat.jpg"));
        assert!(ok("team-a", "media", "team-a/cat.jpg"));
        assert!(!ok("team-a", "media", "team-b/cat.jpg"));
        assert!(!ok("team-a", "media", "team-a-old/cat.jpg"));
        assert!(!ok("team-b", "photos", "2024/cat.jpg"));
        assert!(ok("team-b", "public-assets", "logo.png"));
        assert!(ok("team-b", "shared", "team-b/logo.png"));
        assert!(!ok("team-b", "shared", "team-a/logo.png"));
        // An allowed prefix is no way around the key checks.
        assert!(!ok("team-a", "photos", "x/../../etc"));
        assert!(!ok("team-a", "media", "team-a/../team-b/cat.jpg"));
    }

    #[test]
    fn bad_rules_are_refused_at_start_with_what_to_write() {
        assert_eq!(policy(""), SourcePolicy::default());
        assert_eq!(policy(" , ;"), SourcePolicy::default());
        for (bad, says) in [
            ("photos/", "has no '='"),
            ("team-a=photos", "write photos/ for the whole bucket"),
            ("team-a=media/team-a", "must end in '/'"),
            ("Team_A=photos/", "not a namespace name"),
            ("team-a=Photos/", "not a bucket name"),
            ("team-a=media/../", "'..'"),
            ("team-a=media//", "empty path segment"),
            ("team-a=media/{ns}/", "only placeholder"),
        ] {
            let err = SourcePolicy::parse(bad).unwrap_err();
            assert!(err.contains(says), "{bad}: {err}");
        }
        use clap::Parser;
        let err = crate::config::Config::try_parse_from([
            "thumbnail-operator",
            "--source-allow",
            "team-a=photos",
        ])
        .unwrap_err()
        .to_string();
        assert!(err.contains("write photos/ for the whole bucket"), "{err}");
    }
}
