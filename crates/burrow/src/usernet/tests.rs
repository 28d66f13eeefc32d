use super::*;

#[test]
fn add_user_line_is_idempotent_and_strict() {
    let t = with_user_line("", "alice", 4).unwrap().unwrap();
    assert_eq!(
        t,
        "# USER|@GROUP TYPE BRIDGE COUNT (see burrow-usernet(5))\nalice veth burrow%u 4\n"
    );
    assert_eq!(with_user_line(&t, "alice", 9).unwrap(), None);
    let t2 = with_user_line(&t, "bob", 2).unwrap().unwrap();
    assert!(t2.ends_with("alice veth burrow%u 4\nbob veth burrow%u 2\n"));
    assert_eq!(
        with_user_line("x veth br0 1", "alice", 1).unwrap().unwrap(),
        "x veth br0 1\nalice veth burrow%u 1\n"
    );
    assert_eq!(
        with_user_line("x veth br0 -1\n", "alice", 1).unwrap_err(),
        "/etc/burrow/usernet: line 1: count \"-1\" is not a decimal number from 0 to 65535"
    );
}

#[test]
fn ports_line_is_replaced_removed_and_idempotent() {
    use burrow_usernet::ports::PortGrant;
    let g = PortGrant::parse("8000-8099,443").unwrap();
    let base = "# c\nalice veth burrow%u 4\n";
    let t = with_ports_line(base, "alice", Some(&g)).unwrap().unwrap();
    assert_eq!(t, "# c\nalice veth burrow%u 4\nalice ports 8000-8099,443\n");
    assert_eq!(with_ports_line(&t, "alice", Some(&g)).unwrap(), None);
    let g2 = PortGrant::parse("9000").unwrap();
    let t2 = with_ports_line(&t, "alice", Some(&g2)).unwrap().unwrap();
    assert_eq!(t2, "# c\nalice veth burrow%u 4\nalice ports 9000\n");
    // Another owner's line and a group's stay.
    let mixed = "bob ports 80\nalice ports 1\n@staff ports 2\nalice veth burrow%u 4";
    assert_eq!(
        with_ports_line(mixed, "alice", None).unwrap().unwrap(),
        "bob ports 80\n@staff ports 2\nalice veth burrow%u 4"
    );
    assert_eq!(
        with_ports_line(mixed, "alice", Some(&g2)).unwrap().unwrap(),
        "bob ports 80\n@staff ports 2\nalice veth burrow%u 4\nalice ports 9000\n"
    );
    assert_eq!(with_ports_line(base, "alice", None).unwrap(), None);
    assert_eq!(
        with_ports_line("x veth br0 -1\n", "alice", Some(&g)).unwrap_err(),
        "/etc/burrow/usernet: line 1: count \"-1\" is not a decimal number from 0 to 65535"
    );
    // A broken ports line of anyone is the admin's to fix first.
    assert!(with_ports_line("bob ports 80,,81\n", "alice", None)
        .unwrap_err()
        .starts_with("/etc/burrow/usernet: line 1: "));
    assert!(with_user_line("bob ports 0\n", "alice", 4).is_err());
    assert!(with_user_line("bob ports 80\n", "alice", 4)
        .unwrap()
        .is_some());
}
