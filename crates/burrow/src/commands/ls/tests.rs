use super::*;

#[test]
fn times() {
    assert_eq!(format_time(0), "1970-01-01 00:00:00");
    assert_eq!(format_time(1_795_392_000), "2026-11-23 00:00:00");
    assert_eq!(format_time(951_782_400), "2000-02-29 00:00:00");
}

fn row(name: &str, ports: &[&str]) -> Row {
    Row {
        name: name.into(),
        state: Status::Running,
        pid: Some(42),
        command: vec!["/bin/sh".into()],
        created: 0,
        exit_code: None,
        restart_count: 0,
        ports: ports.iter().map(|p| p.to_string()).collect(),
    }
}

#[test]
fn ports_column_only_when_ports_are_published() {
    let plain = table(&[row("a", &[])]);
    assert!(plain.starts_with("NAME "), "{plain}");
    assert!(!plain.contains("PORTS"), "{plain}");
    let t = table(&[
        row("a", &[]),
        row("web", &["0.0.0.0:8080->80/tcp", "127.0.0.1:5353->53/udp"]),
    ]);
    let lines: Vec<&str> = t.lines().collect();
    let col = lines[0].find("PORTS").unwrap();
    assert_eq!(
        &lines[2][col..],
        "0.0.0.0:8080->80/tcp, 127.0.0.1:5353->53/udp "
    );
    assert_eq!(lines[1][col..].trim(), "");
    assert!(lines[0].ends_with("PORTS                                        EXIT"));
}
