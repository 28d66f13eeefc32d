use burrow_tests::*;

#[test]
fn smoke_map_own_uid() {
    require!();
    let u = TestUser::get("a");
    let t = Proc::spawn(&u, Ns::New, None);
    let etc = Etc::new();
    Run::new(&u)
        .etc(&etc)
        .cmd(
            &helper("burrow-newuidmap"),
            &[&t.pid_s(), "0", &u.uid.to_string(), "1"],
        )
        .ok();
    assert_eq!(t.map("uid_map"), format!("0 {} 1", u.uid));
}
