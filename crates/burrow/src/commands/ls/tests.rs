use super::*;

#[test]
fn times() {
    assert_eq!(format_time(0), "1970-01-01 00:00:00");
    assert_eq!(format_time(1_795_392_000), "2026-11-23 00:00:00");
    assert_eq!(format_time(951_782_400), "2000-02-29 00:00:00");
}
