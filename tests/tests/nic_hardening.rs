//! The setuid helpers under attack: what a hostile review of burrow-nic (and one of
//! burrow-newuidmap) found, each case as an unprivileged user against the real kernel.
//!
//! - a stopped or stuck `create` that holds the create lock delays other users' creates by a
//!   bounded time only (it is killed after the grace period), and users the policy gives
//!   nothing never take the lock;
//! - every host end carries strict reverse-path filtering and `accept_local=0`, so a `none`
//!   nic cannot bring spoofed sources into the host;
//! - bridge names: an untagged bridge is adopted as a per-user bridge only when it is empty,
//!   and a plain policy line cannot attach anyone to another uid's per-user bridge;
//! - `fd:N` must be a descriptor the caller passed, not one the helper opened itself;
//! - leftovers of a killed create are reconciled by the next create of anyone, and subnet
//!   leases of users that are gone are given back.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use burrow_tests::*;

const NIC: &str = "burrow-nic";

/// Tests that hold the create lock or time creates run one at a time.
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn nic(u: &TestUser, etc: &Etc, args: &[&str]) -> Ran {
    Run::new(u).etc(etc).cmd(&helper(NIC), args)
}

/// `burrow-nic create` as `u` for the netns of `t`, on `bridge`, naming the nic `e%d`.
fn create_in(u: &TestUser, etc: &Etc, t: &Proc, bridge: &str) -> Ran {
    nic(
        u,
        etc,
        &[
            "create",
            "/dev/null",
            "c",
            &t.pid_s(),
            "veth",
            bridge,
            "e%d",
        ],
    )
}

/// Runs `prog args` as `u` with descriptors 3 to 9 closed (the test process may have some
/// open without close-on-exec, such as cargo's jobserver pipe).
fn bare(u: &TestUser, etc: Option<&Etc>, prog: &std::path::Path, args: &[&str]) -> Ran {
    let mut all = vec![prog.to_str().unwrap()];
    all.extend_from_slice(args);
    let run = Run::new(u);
    let run = match etc {
        Some(e) => run.etc(e),
        None => run,
    };
    run.script(
        "exec 3>&- 4>&- 5>&- 6>&- 7>&- 8>&- 9>&- && exec \"$@\"",
        &all,
    )
}

fn err(msg: &str) -> String {
    format!("{NIC}: {msg}\n")
}

/// A sleeping process of `u` in a new user and network namespace (`unshare -Urn`).
fn own_netns(u: &TestUser) -> Proc {
    Proc::spawn_cmd(u, None, &["unshare", "-Urn", "--"], &["sleep", "600"])
}

// ------------------------------------------------------------------ fd:N never passed

/// burrow-nic opens its lock (3), its lease file (4) and /proc (5) itself; burrow-newuidmap
/// opens /proc (3). An `fd:N` the caller did not pass must never resolve to one of those.
/// Case A17 of docs/cases/burrow-nic.md.
#[test]
fn fd_n_that_was_not_passed_is_refused_before_the_helper_opens_anything() {
    require!();
    let a = TestUser::get("a");
    let etc = Etc::new()
        .usernet(&format!("{} veth br0 2\n", a.name))
        .file("burrow/nic.conf", "ipv4 10.79.0.0/16 24\n");
    let nic_path = helper(NIC);
    for n in ["3", "4", "5", "6"] {
        let fd = format!("fd:{n}");
        let want = err(&format!("fd:{n} is not an open descriptor"));
        let create = ["create", "/dev/null", "dummy", &fd, "veth", "br0", "eth0"];
        bare(&a, Some(&etc), &nic_path, &create).expect(1, &want);
        let json = [
            "create",
            "--json",
            "/dev/null",
            "d",
            &fd,
            "veth",
            "br0",
            "eth0",
        ];
        bare(&a, Some(&etc), &nic_path, &json).expect(1, &want);
    }
    // A descriptor the caller did pass still works (and is checked for what it is).
    let r = Run::new(&a).etc(&etc).script(
        "exec 3</dev/null && exec \"$1\" create /dev/null dummy fd:3 veth br0 eth0",
        &[nic_path.to_str().unwrap()],
    );
    r.expect(
        1,
        &err("fd:3 is neither a pidfd nor a /proc/<pid> directory"),
    );

    let t = Proc::spawn(&a, Ns::New, None);
    let uid = a.uid.to_string();
    for (prog, n) in [
        ("burrow-newuidmap", "3"),
        ("burrow-newgidmap", "3"),
        ("burrow-newuidmap", "4"),
    ] {
        let fd = format!("fd:{n}");
        bare(&a, None, &helper(prog), &[&fd, "0", &uid, "1"])
            .expect(1, &format!("{prog}: fd:{n} is not an open descriptor\n"));
    }
    assert_eq!(t.map("uid_map"), "");
}

// ------------------------------------------------------------------ the create lock

/// Starts `script` (bash, `$1...` = `args`) as `u` with the private `etc`, in a process group
/// of its own (killed with the group on drop).
struct Bg(std::process::Child);

impl Bg {
    fn start(u: &TestUser, etc: &Etc, script: &str, args: &[&str]) -> Bg {
        use std::os::unix::process::CommandExt;
        let wrapper = format!(
            "mount --bind {} /etc && exec setpriv --reuid {} --regid {} --init-groups -- bash -c \"$0\" x \"$@\"",
            etc.path().display(),
            u.uid,
            u.gid
        );
        let child = std::process::Command::new("unshare")
            .args([
                "-m",
                "--propagation",
                "private",
                "--",
                "bash",
                "-c",
                &wrapper,
            ])
            .arg(script)
            .args(args)
            .process_group(0)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        Bg(child)
    }
}

impl Drop for Bg {
    fn drop(&mut self) {
        let pg = self.0.id();
        let _ = std::process::Command::new("kill")
            .args(["-KILL", "--", &format!("-{pg}")])
            .status();
        let _ = self.0.wait();
    }
}

/// The pid holding the create lock (from /proc/locks), if any.
fn lock_holder() -> Option<u32> {
    use std::os::unix::fs::MetadataExt;
    let ino = std::fs::metadata("/run/burrow/nic.lock").ok()?.ino();
    let locks = std::fs::read_to_string("/proc/locks").ok()?;
    locks.lines().find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        match f.as_slice() {
            [_, "FLOCK", _, "WRITE", pid, key, ..] if key.ends_with(&format!(":{ino}")) => {
                pid.parse().ok()
            }
            _ => None,
        }
    })
}

/// Real uid and state letter of `pid`.
fn uid_state(pid: u32) -> Option<(u32, String)> {
    let st = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |k: &str| {
        st.lines()
            .find_map(|l| l.strip_prefix(k).map(|v| v.trim().to_owned()))
    };
    let uid = field("Uid:")?.split_whitespace().next()?.parse().ok()?;
    let state = field("State:")?.chars().next()?.to_string();
    Some((uid, state))
}

/// Links of the host netns in burrow-nic's link group, with their aliases ("" if none).
fn group_links() -> Vec<(String, String)> {
    let out = sh("ip -o link show group 1651864183");
    out.lines()
        .filter_map(|l| {
            let name = l.split(": ").nth(1)?.split('@').next()?.to_owned();
            let alias = l
                .split("alias ")
                .nth(1)
                .map(|a| a.trim().to_owned())
                .unwrap_or_default();
            Some((name, alias))
        })
        .collect()
}

/// A user stops one of its own creates while it holds the create lock (found in /proc/locks,
/// as an attacker finds it), at a different point each round; another user's create still
/// completes (the stopped holder is killed after the grace period), and afterwards every host
/// end in burrow-nic's group is tagged (what the killed create left was reconciled).
/// Case A12 of docs/cases/burrow-nic.md.
#[test]
fn a_create_stopped_while_holding_the_lock_delays_another_users_create_only_briefly() {
    require!();
    let _serial = serial();
    let h = TestUser::get("lkh");
    let v = TestUser::get("lkv");
    let etc = Etc::new().usernet(&format!(
        "{} veth none 1000\n{} veth none 10\n",
        h.name, v.name
    ));
    let ht = own_netns(&h);
    let vt = own_netns(&v);
    let nic_path = helper(NIC);
    let nic_s = nic_path.to_str().unwrap();
    // Three loops of creates keep the lock busy.
    let hammer = "for j in 1 2 3; do (while :; do \"$1\" create /dev/null c \"$2\" veth none 'e%d' >/dev/null 2>&1; done) & done; wait";
    for round in 0..3 {
        let bg = Bg::start(&h, &etc, hammer, &[nic_s, &ht.pid_s()]);
        // As h could: stop all of h's creates at once, keep stopped the one /proc/locks shows
        // holding the lock, let the others go on. A different point of the locked section
        // each round (the stop lands wherever each create is).
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        let stopped = loop {
            assert!(
                std::time::Instant::now() < deadline,
                "round {round}: never caught a create of {} holding the lock",
                h.name
            );
            std::thread::sleep(std::time::Duration::from_millis(20 + 7 * round));
            sh(&format!("pkill -STOP -u {} -x burrow-nic || true", h.uid));
            let stopped_holder = (0..20).find_map(|_| {
                std::thread::sleep(std::time::Duration::from_millis(5));
                lock_holder()
                    .filter(|p| uid_state(*p).is_some_and(|(u, st)| u == h.uid && st == "T"))
            });
            let others = sh(&format!(
                "pgrep -u {} -x burrow-nic | grep -vx '{}' | xargs -r kill -CONT; true",
                h.uid,
                stopped_holder.unwrap_or(0)
            ));
            assert_eq!(others, "");
            if let Some(pid) = stopped_holder {
                break pid;
            }
        };
        let is_stopped = (0..100).any(|_| {
            std::thread::sleep(std::time::Duration::from_millis(10));
            uid_state(stopped).is_some_and(|(_, st)| st == "T")
        });
        assert!(is_stopped, "round {round}: {stopped} did not stop");
        // v's create: bounded by `timeout` so that the old behaviour (an endless wait) fails.
        let t0 = std::time::Instant::now();
        let r = Run::new(&v).etc(&etc).script(
            "exec timeout 30 \"$1\" create /dev/null c \"$2\" veth none 'e%d'",
            &[nic_s, &vt.pid_s()],
        );
        let took = t0.elapsed();
        assert_eq!(
            (r.code, r.stderr.as_str()),
            (Some(0), ""),
            "round {round}: {}'s create while {}'s create {stopped} holds the lock stopped ({took:?})",
            v.name,
            h.name
        );
        // The stopped holder is gone (killed), not merely continued.
        let gone = (0..200).any(|_| {
            std::thread::sleep(std::time::Duration::from_millis(10));
            uid_state(stopped).is_none_or(|(_, st)| st == "Z")
        });
        assert!(
            gone,
            "round {round}: the stopped holder {stopped} is still there"
        );
        drop(bg);
    }
    // One more create by each (it reconciles under the lock), then the accounting: every host
    // end in burrow-nic's group carries a tag, and v holds exactly the nics it was told about.
    create_in(&h, &etc, &ht, "none").expect(0, "");
    create_in(&v, &etc, &vt, "none").expect(0, "");
    let untagged: Vec<(String, String)> = group_links()
        .into_iter()
        .filter(|(_, alias)| !alias.starts_with("burrow-nic "))
        .collect();
    assert_eq!(untagged, [], "host ends without a tag after the rounds");
    let vcheck = nic(&v, &etc, &["check", "veth", "none"]);
    vcheck.expect(0, "");
    assert_eq!(vcheck.stdout, "veth none allowed=10 used=4 remaining=6\n");
    assert_eq!(host_veths_of(v.uid).len(), 4);
}

/// A user the policy gives nothing (or whose quota is full) never takes the lock: with the
/// lock held by root on purpose, such a create is refused at once with the policy's message.
/// Case A13 of docs/cases/burrow-nic.md.
#[test]
fn a_user_without_an_entry_or_quota_never_touches_the_lock() {
    require!();
    let _serial = serial();
    let n = TestUser::get("lkn");
    let etc = Etc::new().usernet(&format!("{} veth none 0\n", n.name));
    let t = own_netns(&n);
    // Make sure the lock file exists (any create opens it), then hold it as root.
    let _ = nic(
        &n,
        &etc,
        &["create", "/dev/null", "c", &t.pid_s(), "veth", "none", "e0"],
    );
    let holder = std::process::Command::new("flock")
        .args(["-o", "-x", "/run/burrow/nic.lock", "sleep", "60"])
        // Its sleep outlives a killed flock: it must not hold the test's output open.
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _holder = Kill(holder);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while lock_holder().is_none() {
        assert!(
            std::time::Instant::now() < deadline,
            "flock did not take the lock"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let t0 = std::time::Instant::now();
    nic(
        &n,
        &etc,
        &["create", "/dev/null", "c", &t.pid_s(), "veth", "none", "e0"],
    )
    .expect(
        1,
        &err(&format!(
            "quota reached: user {} has 0 of 0 veth nics allowed on bridge none",
            n.name
        )),
    );
    nic(
        &n,
        &etc,
        &["create", "/dev/null", "c", &t.pid_s(), "veth", "br9", "e0"],
    )
    .expect(
        1,
        &err(&format!(
            "no entry in /etc/burrow/usernet allows user {} a veth on bridge br9",
            n.name
        )),
    );
    // Both answered without waiting for the lock (which root holds for a minute).
    assert!(t0.elapsed() < std::time::Duration::from_secs(30));
    // A user with room waits, but not forever: a holder that is not a burrow-nic is never
    // killed, and after the bound the create stops with a message naming it.
    let etc2 = Etc::new().usernet(&format!("{} veth none 1\n", n.name));
    let r = nic(
        &n,
        &etc2,
        &["create", "/dev/null", "c", &t.pid_s(), "veth", "none", "e0"],
    );
    r.expect(
        1,
        &err(&format!(
            "the create lock /run/burrow/nic.lock has been held for 10 s by flock (pid {}, uid 0), which is not a burrow-nic; nothing was done: ask the admin to look at that process",
            _holder.0.id()
        )),
    );
    assert_eq!(host_veths_of(n.uid), Vec::<String>::new());
}

// ------------------------------------------------------------------ bridge names

/// A bridge in the host netns made by the test (deleted on drop).
fn root_bridge(name: &str) -> LinkGuard {
    let g = LinkGuard::fresh(name);
    sh(&format!("ip link add {name} type bridge"));
    g
}

/// Case A15 of docs/cases/burrow-nic.md.
#[test]
fn an_untagged_bridge_with_the_per_user_name_is_adopted_only_when_empty() {
    require!();
    let _serial = serial();
    let a = TestUser::get("brad");
    let name = format!("burrow{}", a.uid);
    let etc = Etc::new().usernet(&format!("{} veth burrow%u 4\n", a.name));
    let t = own_netns(&a);
    let create = || create_in(&a, &etc, &t, "burrow%u");
    let refused = |what: &str| {
        err(&format!(
            "{name} exists and is not burrow-nic's per-user bridge of uid {}: it has no burrow-nic tag, {what} (a bridge left by an interrupted create has none); the admin must remove or rename it",
            a.uid
        ))
    };
    // An admin's bridge with a port.
    let br = root_bridge(&name);
    let port = LinkGuard::fresh(&format!("bp{}", a.uid));
    sh(&format!(
        "ip link add {} type veth peer name {}p && ip link set {} master {name}",
        port.0, port.0, port.0
    ));
    create().expect(1, &refused("1 port and 0 addresses"));
    // With an address instead.
    sh(&format!("ip link del {}", port.0));
    sh(&format!("ip addr add 192.0.2.77/32 dev {name}"));
    create().expect(1, &refused("0 ports and 1 address"));
    assert_eq!(
        sh(&format!("ip -o link show {name} | grep -c alias || true")),
        "0\n"
    );
    assert_eq!(host_veths_of(a.uid), Vec::<String>::new());
    // Empty, as a create killed between making and tagging it leaves it: adopted and tagged.
    sh(&format!("ip addr flush dev {name}"));
    let r = create();
    r.expect(0, "");
    assert!(
        sh(&format!("ip -d -o link show {name}"))
            .contains(&format!("alias burrow-nic bridge {}", a.uid)),
        "not tagged"
    );
    drop(br);
}

/// Case A16 of docs/cases/burrow-nic.md.
#[test]
fn a_plain_line_cannot_attach_anyone_to_another_users_per_user_bridge() {
    require!();
    let _serial = serial();
    let a = TestUser::get("brpl");
    let name = format!("bpl{}", std::process::id() % 100_000);
    let br = root_bridge(&name);
    // The bridge carries another uid's per-user tag (an admin's shared bridge that happens to
    // be named like one, or a pattern that expands to it for uid 4242).
    sh(&format!(
        "ip link set {name} alias 'burrow-nic bridge 4242 3'"
    ));
    let etc = Etc::new().usernet(&format!("{} veth {name} 2\n", a.name));
    let t = own_netns(&a);
    create_in(&a, &etc, &t, &name).expect(
        1,
        &err(&format!(
            "bridge {name} is the per-user bridge of uid 4242; a line naming it does not let you share that user's network (admin: rename the shared bridge or fix /etc/burrow/usernet line 1)"
        )),
    );
    assert_eq!(host_veths_of(a.uid), Vec::<String>::new());
    // The same bridge with the caller's own tag, or none, is an ordinary named bridge.
    sh(&format!(
        "ip link set {name} alias 'burrow-nic bridge {} 3'",
        a.uid
    ));
    create_in(&a, &etc, &t, &name).expect(0, "");
    drop(br);
}

// ------------------------------------------------------------------ leftovers and leases

/// Case A18 of docs/cases/burrow-nic.md.
#[test]
fn any_users_untagged_host_end_in_the_group_is_reconciled_by_the_next_create() {
    require!();
    let _serial = serial();
    let a = TestUser::get("rcn");
    let etc = Etc::new().usernet(&format!("{} veth none 2\n", a.name));
    let t = own_netns(&a);
    // What a create of uid 4243 killed between creating and tagging leaves (in the group,
    // untagged), next to two links that are not such leftovers.
    let left = LinkGuard::fresh("veth4243_kil1");
    let tagged = LinkGuard::fresh("veth4243_tag1");
    let foreign = LinkGuard::fresh("veth4243_frn1");
    sh(&format!(
        "ip link add {} group 1651864183 type veth peer name {}p",
        left.0, left.0
    ));
    sh(&format!(
        "ip link add {} group 1651864183 type veth peer name {}p && ip link set {} alias 'burrow-nic 4243 u veth none'",
        tagged.0, tagged.0, tagged.0
    ));
    sh(&format!(
        "ip link add {} type veth peer name {}p",
        foreign.0, foreign.0
    ));
    create_in(&a, &etc, &t, "none").expect(0, "");
    let exists = |n: &str| std::path::Path::new(&format!("/sys/class/net/{n}")).exists();
    assert!(
        !exists(&left.0),
        "the untagged leftover in the group was not deleted"
    );
    assert!(exists(&tagged.0), "a tagged host end was deleted");
    assert!(exists(&foreign.0), "a link outside the group was deleted");
}

/// A tiny pool (two /24s) with a private lease file: the third user gets "no free subnet";
/// once the first user's bridge is gone and its account deleted, its subnet is reclaimed.
/// Case A18 of docs/cases/burrow-nic.md.
#[test]
fn subnet_leases_of_users_that_are_gone_are_reclaimed_when_the_pool_runs_out() {
    require!();
    let _serial = serial();
    let users: Vec<TestUser> = ["rl1", "rl2", "rl3"]
        .iter()
        .map(|t| TestUser::get(t))
        .collect();
    let guards: Vec<LinkGuard> = users.iter().map(LinkGuard::per_user_bridge).collect();
    let lines: String = users
        .iter()
        .map(|u| format!("{} veth burrow%u 1\n", u.name))
        .collect();
    let conf = "ipv4 10.66.0.0/23 24\n";
    let etc = Etc::new().usernet(&lines).file("burrow/nic.conf", conf);
    let leases = tempdir("leases");
    sh("install -d -o root -g root -m 0755 /var/lib/burrow");
    let nets: Vec<Proc> = users.iter().map(own_netns).collect();
    let create = |i: usize, etc: &Etc| {
        Run::new(&users[i])
            .etc(etc)
            .bind(&leases, std::path::Path::new("/var/lib/burrow"))
            .cmd(
                &helper(NIC),
                &[
                    "create",
                    "--json",
                    "/dev/null",
                    "c",
                    &nets[i].pid_s(),
                    "veth",
                    "burrow%u",
                    "eth0",
                ],
            )
    };
    let addr = |r: &Ran| {
        r.expect(0, "");
        r.stdout
            .split("\"address\":\"")
            .nth(1)
            .and_then(|s| s.split('"').next())
            .unwrap()
            .to_owned()
    };
    assert_eq!(addr(&create(0, &etc)), "10.66.0.2");
    assert_eq!(addr(&create(1, &etc)), "10.66.1.2");
    create(2, &etc).expect(
        1,
        &err(&format!(
            "the address pools in /etc/burrow/nic.conf have no free subnet left for bridge burrow{} (admin: enlarge the pool)",
            users[2].uid
        )),
    );
    // The first user's bridge exists: its lease is not touched even without an account.
    let passwd = std::fs::read_to_string(etc.path().join("passwd")).unwrap();
    let without: String = passwd
        .lines()
        .filter(|l| !l.starts_with(&format!("{}:", users[0].name)))
        .map(|l| format!("{l}\n"))
        .collect();
    let etc2 = Etc::new()
        .usernet(&lines)
        .file("burrow/nic.conf", conf)
        .file("passwd", &without);
    create(2, &etc2).expect(
        1,
        &err(&format!(
            "the address pools in /etc/burrow/nic.conf have no free subnet left for bridge burrow{} (admin: enlarge the pool)",
            users[2].uid
        )),
    );
    // Its bridge gone too: the third user gets its subnet.
    sh(&format!("ip link del {}", guards[0].0));
    assert_eq!(addr(&create(2, &etc2)), "10.66.0.2");
    let text = std::fs::read_to_string(leases.join("nic-leases")).unwrap();
    let subnets: Vec<&str> = text.lines().filter(|l| l.starts_with("subnet ")).collect();
    assert_eq!(
        subnets,
        [
            format!("subnet burrow{} 1 {}", users[1].uid, users[1].uid),
            format!("subnet burrow{} 0 {}", users[2].uid, users[2].uid),
        ]
    );
    let _ = std::fs::remove_dir_all(&leases);
}
