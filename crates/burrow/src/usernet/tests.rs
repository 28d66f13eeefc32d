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
