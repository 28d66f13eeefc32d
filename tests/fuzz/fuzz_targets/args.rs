//! Fuzzes the helpers' command line: `<pid>|fd:N <inner> <outer> <count>...`.
//!
//! Input: arbitrary bytes, read as UTF-8 (lossy) text and split at whitespace into arguments.
//! The first goes to `parse_target`, the rest to `parse_extents`. For every accepted result:
//! - the target is canonical (`<pid>` in 1..=pid_max or `fd:<N>` with N >= 0, printed back
//!   exactly as given);
//! - every extent has `count >= 1`, `inner + count` and `outer + count` <= 4294967295, and its
//!   three arguments are canonical decimal (printed back exactly);
//! - no two extents overlap, inside or on the host;
//! - `render_map` is at most 4095 bytes and `parse_kernel_map` reads it (and the kernel's
//!   padded form) back to the same extents;
//! - `authorize` against fixed ranges (one of which covers host id 0) allows exactly the
//!   extents that are the own-id exception or lie inside the ranges without host id 0, so an
//!   extent with host id 0 is allowed only as the exact own-id exception of a root caller.
#![no_main]

use burrow_idmap::{
    authorize, parse_extents, parse_kernel_map, parse_target, render_map, subid, ArgError, Caller,
    DenyReason, Extent, Range, Target, MAX_EXTENTS, MAX_MAP_BYTES,
};
use libfuzzer_sys::fuzz_target;

const PID_MAX: u32 = 4_194_304;
const LIMIT: u64 = 4_294_967_295;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let args: Vec<&str> = text.split_whitespace().collect();
    let Some((first, rest)) = args.split_first() else {
        return;
    };

    for pid_max in [PID_MAX, 32_768] {
        match parse_target(first, pid_max) {
            Ok(Target::Pid(p)) => {
                assert!(
                    p >= 1 && p.unsigned_abs() <= pid_max,
                    "{first:?} -> pid {p}"
                );
                assert_eq!(*first, p.to_string(), "non-canonical pid accepted");
            }
            Ok(Target::Fd(n)) => {
                assert!(n >= 0, "{first:?} -> fd {n}");
                assert_eq!(*first, format!("fd:{n}"), "non-canonical fd accepted");
            }
            Err(e) => {
                let _ = e.to_string();
            }
        }
    }

    let extents = match parse_extents(rest) {
        Ok(x) => x,
        Err(e) => {
            check_error(&e, rest);
            return;
        }
    };

    assert!(!extents.is_empty() && extents.len() <= MAX_EXTENTS);
    assert_eq!(extents.len() * 3, rest.len());
    for (e, triple) in extents.iter().zip(rest.chunks_exact(3)) {
        assert!(e.count >= 1, "zero count accepted: {e:?}");
        assert!(
            u64::from(e.inner) + u64::from(e.count) <= LIMIT,
            "inside overflow accepted: {e:?}"
        );
        assert!(
            u64::from(e.outer) + u64::from(e.count) <= LIMIT,
            "host overflow accepted: {e:?}"
        );
        assert_eq!(
            triple,
            [
                e.inner.to_string(),
                e.outer.to_string(),
                e.count.to_string()
            ],
            "non-canonical number accepted"
        );
    }
    assert_no_overlap(&extents, |e| e.inner_range(), "inside");
    assert_no_overlap(&extents, |e| e.outer_range(), "host");

    let map = render_map(&extents);
    assert!(map.len() <= MAX_MAP_BYTES, "{} bytes accepted", map.len());
    assert_eq!(parse_kernel_map(&map).as_deref(), Some(extents.as_slice()));
    let padded: String = extents
        .iter()
        .map(|e| format!("{:>10} {:>10} {:>10}\n", e.inner, e.outer, e.count))
        .collect();
    assert_eq!(
        parse_kernel_map(&padded).as_deref(),
        Some(extents.as_slice())
    );

    // Host ids [0, 10) are "delegated" on purpose: authorize must still refuse host id 0.
    let allowed = [
        Range::new(0, 10),
        Range::new(100_000, 65_536),
        Range::new(165_536, 100),
    ];
    for caller in [
        Caller {
            uid: 1005,
            own_id: 1005,
        },
        Caller { uid: 0, own_id: 0 },
    ] {
        check_authorize(caller, &extents, &allowed);
    }
});

fn assert_no_overlap(extents: &[Extent], side: impl Fn(&Extent) -> Range, what: &str) {
    let mut r: Vec<Range> = extents.iter().map(side).collect();
    r.sort_unstable();
    for w in r.windows(2) {
        assert!(w[0].end <= w[1].start, "{what} overlap accepted: {w:?}");
    }
}

/// An independent statement of the rule, compared with `authorize` in both directions.
fn check_authorize(caller: Caller, extents: &[Extent], allowed: &[Range]) {
    let merged = subid::merge(allowed);
    let exception = |e: &Extent| e.count == 1 && e.outer == caller.own_id;
    let delegated =
        |e: &Extent| e.outer != 0 && merged.iter().any(|m| m.contains(&e.outer_range()));
    let first_bad = extents.iter().find(|e| !exception(e) && !delegated(e));
    match authorize(caller, extents, allowed) {
        Ok(grant) => {
            assert_eq!(first_bad, None, "{caller:?} allowed {first_bad:?}");
            for e in extents {
                assert!(
                    e.outer != 0 || exception(e),
                    "{caller:?} allowed host id 0 in {e:?}"
                );
            }
            let used = extents.iter().any(|e| !exception(e));
            assert_eq!(grant.used_subids, used, "{caller:?} {extents:?}");
        }
        Err(d) => {
            assert_eq!(
                Some(&d.extent),
                first_bad,
                "{caller:?} denied the wrong extent"
            );
            let expect = if d.extent.outer == 0 {
                DenyReason::HostRoot
            } else {
                DenyReason::NotDelegated
            };
            assert_eq!(d.reason, expect, "{caller:?} {d:?}");
        }
    }
}

/// Errors must be consistent with the input and printable.
fn check_error(e: &ArgError, rest: &[&str]) {
    let _ = e.to_string();
    match e {
        ArgError::NoRanges => assert!(rest.is_empty()),
        ArgError::NotTriples(n) => assert!(*n == rest.len() && n % 3 != 0),
        ArgError::TooManyRanges(n) => assert!(*n > MAX_EXTENTS && *n * 3 == rest.len()),
        ArgError::BadNumber(pos, s) => assert_eq!(rest.get(pos - 2), Some(&s.as_str())),
        ArgError::TooLong(n) => assert!(*n > MAX_MAP_BYTES),
        _ => {}
    }
}
