//! burrow-nic in place of LXC's lxc-user-nic: an unprivileged LXC container started with
//! lxc-execute gets its veth through our helper (bind-mounted over
//! /usr/libexec/lxc/lxc-user-nic in a private mount namespace).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use burrow_tests::nic_fixture::*;
use burrow_tests::*;

// -------------------------------------------------------------------------------- LXC interop

/// A Linux bridge named `bnlx<pid % 10000>`, deleted on drop (also when the test fails).
fn lxc_bridge() -> LinkGuard {
    let g = LinkGuard::fresh(&format!("bnlx{}", std::process::id() % 10_000));
    sh(&format!("ip link add {} type bridge", g.0));
    g
}

/// Where Debian's LXC looks for its nic helper (`LIBEXECDIR/lxc/lxc-user-nic`).
const LXC_USER_NIC: &str = "/usr/libexec/lxc/lxc-user-nic";

/// `dir/rootfs`: a copy of the harness's [`busybox_template`] (/bin/busybox, static, plus a
/// relative symlink per applet; /tmp 1777) with the directories LXC mounts on and a root-only
/// /etc/passwd and /etc/group, owned by `u`.
fn busybox_rootfs(dir: &std::path::Path, u: &TestUser) -> std::path::PathBuf {
    let r = dir.join("rootfs");
    std::fs::create_dir(&r).unwrap();
    sh(&format!(
        "cp -a {}/. {}/",
        busybox_template().display(),
        r.display()
    ));
    for d in ["proc", "sys", "dev", "root"] {
        std::fs::create_dir_all(r.join(d)).unwrap();
    }
    std::fs::write(r.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n").unwrap();
    std::fs::write(r.join("etc/group"), "root:x:0:\n").unwrap();
    sh(&format!("chown -R -h {}:{} {}", u.uid, u.gid, r.display()));
    r
}

/// Runs as the user (in the private mount namespace): starts the container in the background,
/// waits until it has written its view of its links, records the host's view of the bridge
/// ports and their aliases while it runs, then lets it finish.
const LXC_SCRIPT: &str = r#"U=$1; BR=$2
export XDG_RUNTIME_DIR="$U/xdg"; mkdir -m 0700 "$XDG_RUNTIME_DIR" "$U/lxcpath" || exit 90
timeout -k 5 60 lxc-execute -P "$U/lxcpath" -n burrow-nic-lxc -f "$U/container.conf" \
  -o "$U/lxc.log" -l INFO -- /bin/sh -c \
  'ip -o link show >/tmp/links.new && mv /tmp/links.new /tmp/links; n=0; while [ ! -e /tmp/go ] && [ $n -lt 400 ]; do sleep 0.05; n=$((n+1)); done' \
  >"$U/lxc.out" 2>&1 &
lxc=$!
n=0
while [ ! -e "$U/rootfs/tmp/links" ] && [ $n -lt 600 ]; do
  kill -0 $lxc 2>/dev/null || break; sleep 0.05; n=$((n+1))
done
ip -o link show master "$BR" >"$U/host-master" 2>&1
ip -d link show >"$U/host-detail" 2>&1
touch "$U/rootfs/tmp/go"
wait $lxc
echo "lxc-rc=$?""#;

#[test]
fn lxc_unprivileged_container_gets_a_veth_through_burrow_nic() {
    require!();
    use std::os::unix::fs::PermissionsExt;
    let a = TestUser::get("nl");
    let (subuid, subgid, count) = a.ensure_real_subids();
    let count = count.min(65536);
    let br = lxc_bridge();
    // After ensure_real_subids: the private /etc has the user's ranges for newuidmap.
    let etc = Etc::new().usernet(&format!("{} veth {} 1\n", a.name, br.0));
    let sink = SyslogSink::new();
    let w = TempDir::new("lxcnic");
    let u = w.0.join("u");
    std::fs::create_dir(&u).unwrap();
    std::fs::set_permissions(&u, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::os::unix::fs::chown(&u, Some(a.uid), Some(a.gid)).unwrap();
    let rootfs = busybox_rootfs(&u, &a);
    let conf = format!(
        "lxc.uts.name = burrow-nic-lxc\n\
         lxc.rootfs.path = dir:{rootfs}\n\
         lxc.idmap = u 0 {uid} 1\n\
         lxc.idmap = u 1 {subuid} {count}\n\
         lxc.idmap = g 0 {gid} 1\n\
         lxc.idmap = g 1 {subgid} {count}\n\
         lxc.net.0.type = veth\n\
         lxc.net.0.link = {br}\n\
         lxc.net.0.name = eth0\n\
         lxc.net.0.flags = up\n\
         lxc.mount.auto = proc:mixed sys:ro\n\
         lxc.autodev = 1\n\
         lxc.pty.max = 0\n\
         lxc.tty.max = 0\n\
         lxc.console.path = none\n\
         lxc.apparmor.profile = unconfined\n",
        rootfs = rootfs.display(),
        uid = a.uid,
        gid = a.gid,
        br = br.0,
    );
    let conf_path = u.join("container.conf");
    std::fs::write(&conf_path, conf).unwrap();
    std::os::unix::fs::chown(&conf_path, Some(a.uid), Some(a.gid)).unwrap();
    assert!(tagged_links(a.uid).is_empty(), "{:?}", tagged_links(a.uid));
    let r = Run::new(&a)
        .etc(&etc)
        .bind(&helper(NIC), std::path::Path::new(LXC_USER_NIC))
        .devlog(&sink.path())
        .script(LXC_SCRIPT, &[u.to_str().unwrap(), &br.0]);
    let read = |f: &str| std::fs::read_to_string(u.join(f)).unwrap_or_default();
    let diag = format!(
        "script: {:?} {} {}\n--- lxc.out:\n{}\n--- lxc.log:\n{}",
        r.code,
        r.stdout,
        r.stderr,
        read("lxc.out"),
        read("lxc.log")
    );
    assert_eq!(r.stdout.trim(), "lxc-rc=0", "{diag}");
    // Inside: eth0 exists and is UP.
    let inside = std::fs::read_to_string(rootfs.join("tmp/links")).unwrap_or_default();
    let eth0 = inside
        .lines()
        .find(|l| l.contains(": eth0@") || l.contains(": eth0:"))
        .unwrap_or_else(|| panic!("no eth0 inside: {inside}\n{diag}"));
    let flags = eth0.split('<').nth(1).and_then(|f| f.split('>').next());
    assert!(
        flags.is_some_and(|f| f.split(',').any(|x| x == "UP")),
        "{eth0}"
    );
    // Host, while it ran: one port of the bridge, a veth of the user's, with our tag.
    let master = read("host-master");
    let ports: Vec<&str> = master
        .lines()
        .filter_map(|l| l.split(": ").nth(1))
        .map(|n| n.split('@').next().unwrap())
        .collect();
    assert_eq!(ports.len(), 1, "{master}\n{diag}");
    let host = ports[0];
    assert!(host.starts_with(&format!("veth{}_", a.uid)), "{master}");
    let detail = read("host-detail");
    let block: String = detail
        .split('\n')
        .skip_while(|l| !l.contains(&format!(": {host}@")))
        .take_while({
            let mut first = true;
            move |l| std::mem::replace(&mut first, false) || l.starts_with(' ')
        })
        .collect::<Vec<_>>()
        .join("\n");
    assert!(block.contains("veth"), "{block}\n{detail}");
    assert!(
        block.contains(&format!(
            "alias burrow-nic {} {} veth {}",
            a.uid, a.name, br.0
        )),
        "{block}"
    );
    // Our binary ran in place of lxc-user-nic: its audit line, through the private /dev/log.
    let log = sink.drain().join("\n");
    assert!(
        log.contains(&format!(
            "uid={} gid={}: allowed: create pid=",
            a.uid, a.gid
        )) && log.contains(&format!("type=veth bridge={} nic=eth0", br.0)),
        "{log}\n{diag}"
    );
    // After the container: no veth of the user's remains (the netns is gone).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !tagged_links(a.uid).is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "veths outlived the container: {:?}",
            tagged_links(a.uid)
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}
