//! Fuzzes burrow-image's image reference parser (`Reference::parse`) and its resolution into
//! registry requests (`candidates`, `manifest_ref`, `name`).
//!
//! Input: arbitrary bytes, read as UTF-8 (lossy).
//! Checks:
//! - parsing returns (no panic) and refuses anything over 4096 bytes;
//! - every candidate of an accepted reference only has characters that are safe in a URL path
//!   and a file name (`[A-Za-z0-9._:/@-]`, and `[]` in the registry): no `?`, `#`, `%`,
//!   space, newline or `..` component can reach a request or the store's names;
//! - each candidate printed (`registry/repository[:tag][@digest]`) parses back to a reference
//!   whose only candidate is that same one (a fully qualified name is stable);
//! - `manifest_ref` is the digest when given, else the tag, else `latest`.
#![no_main]

use burrow_image::{Reference, RegistriesConf};
use libfuzzer_sys::fuzz_target;

fn safe(s: &str, extra: &[char]) -> bool {
    s.chars()
        .all(|c| c.is_ascii_alphanumeric() || "._:/@-".contains(c) || extra.contains(&c))
        && !s.split('/').any(|c| c == "..")
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let Ok(r) = Reference::parse(&text) else {
        return;
    };
    assert!(text.len() <= 4096);
    let conf = RegistriesConf::default();
    for q in r.candidates(&conf) {
        assert!(
            safe(&q.registry, &['[', ']']),
            "registry {:?} from {text:?}",
            q.registry
        );
        assert!(
            safe(&q.repository, &[]),
            "repository {:?} from {text:?}",
            q.repository
        );
        assert!(!q.repository.is_empty() && !q.repository.starts_with('/'));
        let mr = q.manifest_ref();
        assert!(
            safe(&mr, &[]) && !mr.contains('/'),
            "manifest ref {mr:?} from {text:?}"
        );
        match (&q.digest, &q.tag) {
            (Some(d), _) => assert_eq!(mr, d.to_string()),
            (None, Some(t)) => assert_eq!(&mr, t),
            (None, None) => assert_eq!(mr, "latest"),
        }
        if let Some(n) = q.name() {
            assert!(safe(&n, &['[', ']']), "name {n:?} from {text:?}");
        }
        let printed = q.to_string();
        let again = Reference::parse(&printed)
            .unwrap_or_else(|e| panic!("{printed:?} (from {text:?}) does not parse back: {e}"));
        assert_eq!(
            again.candidates(&conf),
            vec![q.clone()],
            "{printed:?} (from {text:?}) resolves differently"
        );
    }
});
