use super::*;

#[test]
fn full_file() {
    let c = RunConfig::from_toml(
        "rootfs = \"/r\"\ncommand = [\"/bin/sh\"]\nvolume = [\"/a:/b:ro\"]\nuser = \"1000:100\"\nulimit = [\"nofile=10:20\"]\nnet = \"host\"\ncap_policy = \"deny\"\nseccomp = \"unconfined\"\n",
        "t.toml",
    )
    .unwrap();
    assert_eq!(
        c.volumes[0],
        Volume {
            source: "/a".into(),
            target: "/b".into(),
            read_only: true
        }
    );
    assert_eq!(
        c.user,
        Some(UserSpec {
            user: IdOrName::Id(1000),
            group: Some(IdOrName::Id(100))
        })
    );
    assert_eq!(c.ulimits[0].soft, 10);
    assert_eq!(c.net, NetMode::Host);
    assert_eq!(c.cap_policy, CapPolicy::Deny);
    assert_eq!(c.seccomp, Seccomp::Unconfined);
    c.clone().validate().unwrap();
}

#[test]
fn toml_round_trip() {
    let mut c = RunConfig::from_toml(
        "rootfs = \"/r\"\ncommand = [\"/bin/sh\", \"-c\", \"x\"]\nvolume = [\"/a:/b:ro\"]\nuser = \"1000:100\"\nulimit = [\"nofile=10:unlimited\"]\nenv = [\"A=1\"]\nseccomp = \"/p.toml\"\ncap_add = [\"net_raw\"]\n",
        "t.toml",
    )
    .unwrap();
    c.tty = true;
    assert_eq!(RunConfig::from_toml(&c.to_toml(), "again").unwrap(), c);
}

#[test]
fn toml_errors_have_line_and_column() {
    let e = RunConfig::from_toml("rootfs = \"/r\"\nread_only = maybe\n", "c.toml")
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("c.toml: TOML parse error at line 2, column 13"),
        "{e}"
    );
    let e = RunConfig::from_toml("rootfz = \"/r\"\n", "c.toml")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("line 1, column 1") && e.contains("unknown field `rootfz`"),
        "{e}"
    );
}

#[test]
fn value_parsers() {
    assert!("rel:/b".parse::<Volume>().is_err());
    assert!("/a:rel".parse::<Volume>().is_err());
    assert!("/a:/b:rx".parse::<Volume>().is_err());
    assert_eq!(
        "7".parse::<UserSpec>().unwrap().numeric(),
        Some(User { uid: 7, gid: 7 })
    );
    assert_eq!(
        "root:wheel".parse::<UserSpec>().unwrap(),
        UserSpec {
            user: IdOrName::Name("root".into()),
            group: Some(IdOrName::Name("wheel".into()))
        }
    );
    assert_eq!("app:5".parse::<UserSpec>().unwrap().to_string(), "app:5");
    assert!("01".parse::<UserSpec>().is_err());
    assert!("a/b".parse::<UserSpec>().is_err());
    assert!("".parse::<UserSpec>().is_err());
    assert_eq!("keep-id".parse::<IdMap>().unwrap(), IdMap::KeepId);
    assert_eq!(IdMap::KeepId.to_string(), "keep-id");
    assert!("keepid".parse::<IdMap>().is_err());
    assert_eq!(
        "A=b=c".parse::<EnvVar>().unwrap(),
        EnvVar {
            key: "A".into(),
            value: "b=c".into()
        }
    );
    assert!("=x".parse::<EnvVar>().is_err());
    assert_eq!("nofile=unlimited".parse::<Ulimit>().unwrap().hard, u64::MAX);
    assert!("nofile=20:10".parse::<Ulimit>().is_err());
    assert!("files=1".parse::<Ulimit>().is_err());
    assert!("bogus".parse::<NetMode>().is_err());
    assert!("".parse::<Seccomp>().is_err());
    assert_eq!("auto".parse::<IdMap>().unwrap(), IdMap::Auto(None));
    assert_eq!(
        "auto:1000".parse::<IdMap>().unwrap(),
        IdMap::Auto(Some(1000))
    );
    assert!("auto:0".parse::<IdMap>().is_err());
    assert!("own".parse::<IdMap>().is_err());
    let c =
        RunConfig::from_toml("memory = \"64m\"\ncpus = \"0.5\"\npids_limit = 20\n", "l").unwrap();
    let l = c.limits();
    assert_eq!(
        (l.memory, l.cpu_quota_us, l.pids),
        (Some(64 << 20), Some((50_000, 100_000)), Some(20))
    );
    assert!(RunConfig::from_toml("memory = \"lots\"\n", "l").is_err());
    assert!(RunConfig::from_toml("cpus = \"x\"\n", "l").is_err());
}

#[test]
fn net_modes() {
    assert_eq!(parse_net("none").unwrap(), (NetMode::None, None));
    assert_eq!(parse_net("bridge").unwrap(), (NetMode::Bridge, None));
    assert_eq!(
        parse_net("bridge=lxcbr0").unwrap(),
        (NetMode::Bridge, Some("lxcbr0".into()))
    );
    assert_eq!(
        parse_net("bridge=br%u").unwrap(),
        (NetMode::Bridge, Some("br%u".into()))
    );
    for bad in [
        "bridge=",
        "bridge=a/b",
        "bridge=abcdefghijklmnop",
        "host=x",
        "slirp",
        "bridge=%u%u",
    ] {
        assert!(parse_net(bad).is_err(), "{bad}");
    }
    let c = RunConfig::from_toml(
        "rootfs = \"/r\"\ncommand = [\"x\"]\nnet = \"bridge\"\nbridge = \"br0\"\n",
        "t",
    )
    .unwrap();
    assert_eq!((c.net, c.bridge.as_deref()), (NetMode::Bridge, Some("br0")));
    c.clone().validate().unwrap();
    let back = RunConfig::from_toml(&c.to_toml(), "t").unwrap();
    assert_eq!(back.bridge.as_deref(), Some("br0"));
    let c = RunConfig::from_toml(
        "rootfs = \"/r\"\ncommand = [\"x\"]\nbridge = \"br0\"\n",
        "t",
    )
    .unwrap();
    assert_eq!(
        c.clone().validate().unwrap_err().to_string(),
        "bridge \"br0\" is set but the network mode is not bridge (use --net bridge=br0)"
    );
}

#[test]
fn sizes() {
    let ok = [
        ("1024", 1024),
        ("0", 0),
        ("1024b", 1024),
        ("100k", 102_400),
        ("512m", 536_870_912),
        ("512M", 536_870_912),
        ("512mb", 536_870_912),
        ("512MiB", 536_870_912),
        ("1KiB", 1024),
        ("1g", 1 << 30),
        ("1.5g", 1_610_612_736),
        ("0.5k", 512),
        ("2t", 2 << 40),
        ("16777215t", 16_777_215 << 40),
    ];
    for (s, v) in ok {
        assert_eq!(parse_size(s).unwrap(), v, "{s}");
    }
    for s in [
        "",
        "m",
        "-1",
        "+1",
        " 1",
        "1 ",
        "1 m",
        "1e3",
        "0x10",
        "01",
        "1.",
        ".5",
        "1.5",
        "1.1k",
        "1..5g",
        "1p",
        "1mm",
        "1bb",
        "1.0000000001g",
        "16777216t",
        "99999999999999999999",
    ] {
        assert!(
            matches!(parse_size(s), Err(ConfigError::Invalid(_))),
            "{s:?}"
        );
    }
    assert_eq!(
        parse_size("1.5").unwrap_err().to_string(),
        "invalid size \"1.5\": it is not a whole number of bytes"
    );
}

#[test]
fn limits_validation() {
    assert_eq!(Limits::from_cpus(1.5).unwrap(), (150_000, 100_000));
    assert_eq!(Limits::from_cpus(0.01).unwrap(), (1000, 100_000));
    assert_eq!(Limits::from_cpus(0.333_333).unwrap(), (33_333, 100_000));
    for bad in [0.0, 0.001, -1.0, f64::NAN, f64::INFINITY, 10_001.0] {
        assert!(Limits::from_cpus(bad).is_err(), "{bad}");
    }
    assert!(Limits::default().is_empty());
    assert!(!Limits {
        pids: Some(1),
        ..Limits::default()
    }
    .is_empty());
    let err = |l: Limits| l.validate().unwrap_err().to_string();
    let l = Limits::default();
    assert_eq!(
        err(Limits {
            memory: Some(1000),
            ..l
        }),
        "memory limit 1000 bytes is below the minimum of 1 MiB (1048576 bytes)"
    );
    assert_eq!(
        err(Limits { memory: Some(1 << 30), memory_swap: Some(1 << 29), ..l }),
        "memory-swap limit (536870912 bytes) must be at least the memory limit (1073741824 bytes): it counts memory plus swap"
    );
    assert!(err(Limits {
        memory_swap: Some(1 << 30),
        ..l
    })
    .contains("needs a memory limit too"));
    assert!(err(Limits {
        cpu_weight: Some(0),
        ..l
    })
    .contains("from 1 to 10000"));
    assert!(err(Limits {
        cpu_quota_us: Some((999, 100_000)),
        ..l
    })
    .contains("at least 1000"));
    assert!(err(Limits {
        cpu_quota_us: Some((1000, 999)),
        ..l
    })
    .contains("period"));
    assert!(err(Limits { pids: Some(0), ..l }).contains("pids limit 0"));
}

/// A config file `c.toml` with `text`, in a fresh directory (removed by the test).
fn config_file(test: &str, text: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!("burrow-config-{test}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("c.toml");
    std::fs::write(&file, text).unwrap();
    (dir, file)
}

#[test]
fn flags_over_the_file() {
    #[derive(serde::Serialize)]
    struct Flags {
        hostname: &'static str,
        env: Vec<&'static str>,
        command: Vec<&'static str>,
        net: &'static str,
        tty: bool,
    }
    let (dir, file) = config_file(
        "merge",
        "rootfs = \"/r\"\ncommand = [\"/bin/sh\"]\nhostname = \"file\"\nenv = [\"A=1\"]\nnet = \"bridge\"\nbridge = \"br0\"\nmemory = \"64m\"\n",
    );
    let flags = Flags {
        hostname: "flag",
        env: vec!["B=2"],
        command: vec!["/bin/echo", "hi"],
        net: "host",
        tty: true,
    };
    let c = RunConfig::merge(Some(&file), &flags).unwrap();
    assert_eq!(c.hostname.as_deref(), Some("flag"));
    assert_eq!(
        c.env.iter().map(ToString::to_string).collect::<Vec<_>>(),
        ["A=1", "B=2"]
    );
    assert_eq!(c.command, ["/bin/echo", "hi"]);
    assert_eq!((c.net, c.bridge.as_deref()), (NetMode::Host, None));
    assert!(c.tty);
    assert_eq!(c.memory.as_ref().map(|m| m.bytes), Some(64 << 20));
    let spec = c.clone().validate().unwrap();
    assert_eq!(spec.limits().memory, Some(64 << 20));
    assert_eq!(RunConfig::from_toml(&c.to_toml(), "again").unwrap(), c);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn unset_flags_leave_the_file_alone() {
    #[derive(serde::Serialize)]
    struct Flags {
        hostname: Option<String>,
        command: Vec<String>,
        env: Vec<String>,
        tty: bool,
    }
    let (dir, file) = config_file(
        "unset",
        "command = [\"/bin/sh\"]\nhostname = \"file\"\nenv = [\"A=1\"]\ntty = true\n",
    );
    let flags = Flags {
        hostname: None,
        command: vec![],
        env: vec![],
        tty: false,
    };
    let c = RunConfig::merge(Some(&file), &flags).unwrap();
    assert_eq!(c, RunConfig::from_file(&file).unwrap());
    assert_eq!(
        RunConfig::merge(None, &flags).unwrap(),
        RunConfig::default()
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn upper_size() {
    let c = RunConfig::from_toml("upper_size = \"512m\"\n", "u").unwrap();
    assert_eq!(
        c.upper_size.as_ref().map(ToString::to_string).as_deref(),
        Some("512m")
    );
    assert!(matches!(c.upper_size, Some(UpperSize::Ram(ref s)) if s.bytes == 512 << 20));
    let c = RunConfig::from_toml("upper_size = \"disk\"\n", "u").unwrap();
    assert_eq!(c.upper_size, Some(UpperSize::Disk));
    for bad in ["lots", "0", "512k", "-1"] {
        assert!(bad.parse::<UpperSize>().is_err(), "{bad}");
    }
}

#[test]
fn publish_in_the_file_and_its_mode() {
    let c = RunConfig::from_toml(
        "rootfs = \"/r\"\ncommand = [\"/bin/sh\"]\nnet = \"bridge\"\npublish = [\"8080:80\", \"127.0.0.1:5353:53/udp\"]\n",
        "t.toml",
    )
    .unwrap();
    assert_eq!(c.publish.len(), 2);
    assert_eq!(c.publish[1].to_string(), "127.0.0.1:5353:53/udp");
    assert_eq!(c.publish_mode, PublishMode::Auto);
    assert_eq!(c.publish_mode_resolved(), Some(PublishMode::Kernel));
    // Saved as the normalized text, read back the same.
    let text = c.to_toml();
    assert!(
        text.contains("publish = [\"8080:80/tcp\", \"127.0.0.1:5353:53/udp\"]"),
        "{text}"
    );
    assert!(!text.contains("publish_mode"), "{text}");
    assert_eq!(RunConfig::from_toml(&text, "again").unwrap(), c);
    c.validate().unwrap();

    let mut c = RunConfig::from_toml(
        "rootfs = \"/r\"\ncommand = [\"/bin/sh\"]\npublish = [\"8080:80\"]\n",
        "t.toml",
    )
    .unwrap();
    assert_eq!(c.publish_mode_resolved(), Some(PublishMode::User));
    c.publish_mode = PublishMode::User;
    c.net = NetMode::Bridge;
    assert_eq!(c.publish_mode_resolved(), Some(PublishMode::User));
    c.publish.clear();
    assert_eq!(c.publish_mode_resolved(), None);

    let e = RunConfig::from_toml(
        "rootfs = \"/r\"\ncommand = [\"/bin/sh\"]\npublish = [\"80\"]\n",
        "t.toml",
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("invalid port mapping \"80\""), "{e}");
    // The file's words are the flag's.
    let e = RunConfig::from_toml("publish_mode = \"fast\"\n", "t.toml")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("unknown publish mode \"fast\": use user or kernel (or auto)"),
        "{e}"
    );
}

#[test]
fn publish_refusals() {
    let base = |extra: &str| {
        RunConfig::from_toml(
            &format!("rootfs = \"/r\"\ncommand = [\"/bin/sh\"]\n{extra}"),
            "t.toml",
        )
        .unwrap()
        .validate()
        .map(|_| ())
        .map_err(|e| e.to_string())
    };
    let e = base("net = \"host\"\npublish = [\"8080:80\"]\n").unwrap_err();
    assert!(
        e.contains("--net host") && e.contains("already uses the host's ports"),
        "{e}"
    );
    let e = base("publish_mode = \"kernel\"\npublish = [\"8080:80\"]\n").unwrap_err();
    assert!(
        e.contains("--publish-mode kernel needs --net bridge"),
        "{e}"
    );
    assert!(e.contains("--publish-mode user"), "{e}");
    let e = base("publish_mode = \"kernel\"\n").unwrap_err();
    assert!(e.contains("needs --net bridge"), "{e}");
    let e = base("publish = [\"8080:80\", \"127.0.0.1:8080:81\"]\n").unwrap_err();
    assert!(e.contains("publish the same host port"), "{e}");
    base("publish = [\"8080:80\", \"8080:80/udp\"]\n").unwrap();
    base("net = \"host\"\npublish_mode = \"user\"\n").unwrap();
    // An IPv4 and an IPv6 address share a port; the kernel path takes no IPv6 address.
    base("publish = [\"127.0.0.1:8080:80\", \"[::1]:8080:81\", \"0.0.0.0:9000:90\", \"[::]:9000:90\"]\n")
        .unwrap();
    base("net = \"bridge\"\npublish_mode = \"user\"\npublish = [\"[::1]:8080:80\"]\n").unwrap();
    base("net = \"bridge\"\npublish = [\"8080:80\", \"0.0.0.0:9000:90\", \"[::]:9000:90\"]\n")
        .unwrap();
}

#[test]
fn publish_flags_add_to_the_file() {
    let dir = std::env::temp_dir().join(format!("burrow-config-publish-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("c.toml");
    std::fs::write(
        &f,
        "rootfs = \"/r\"\ncommand = [\"/bin/sh\"]\npublish = [\"8080:80\"]\npublish_mode = \"user\"\n",
    )
    .unwrap();
    #[derive(serde::Serialize)]
    struct Flags {
        publish: Vec<String>,
        publish_mode: Option<PublishMode>,
    }
    let c = RunConfig::merge(
        Some(&f),
        &Flags {
            publish: vec![parse_publish("9090:90/udp").unwrap()],
            publish_mode: None,
        },
    )
    .unwrap();
    let texts: Vec<String> = c.publish.iter().map(|p| p.to_string()).collect();
    assert_eq!(texts, ["8080:80/tcp", "9090:90/udp"]);
    assert_eq!(c.publish_mode, PublishMode::User);
    let c = RunConfig::merge(
        Some(&f),
        &Flags {
            publish: Vec::new(),
            publish_mode: Some(PublishMode::Kernel),
        },
    )
    .unwrap();
    assert_eq!(c.publish_mode, PublishMode::Kernel);
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(parse_publish("8080").is_err());
    // 0.0.0.0 is every IPv4 address (no address: both families), so it is kept.
    assert_eq!(parse_publish("0.0.0.0:80:80").unwrap(), "0.0.0.0:80:80/tcp");
    assert_eq!(parse_publish("[::1]:80:80").unwrap(), "[::1]:80:80/tcp");
}

#[test]
fn published_ports_in_the_file_and_their_mode() {
    let c = RunConfig::from_toml(
        "rootfs = \"/r\"\ncommand = [\"x\"]\npublish = [\"8080:80\", \"127.0.0.1:5353:53/udp\"]\npublish_mode = \"user\"\n",
        "t",
    )
    .unwrap();
    let shown: Vec<String> = c.publish.iter().map(ToString::to_string).collect();
    assert_eq!(shown, ["8080:80/tcp", "127.0.0.1:5353:53/udp"]);
    assert_eq!(c.publish_mode, PublishMode::User);
    let text = c.to_toml();
    assert!(
        text.contains("publish = [\"8080:80/tcp\", \"127.0.0.1:5353:53/udp\"]"),
        "{text}"
    );
    assert_eq!(RunConfig::from_toml(&text, "again").unwrap(), c);
    c.clone().validate().unwrap();
    // Nothing published: neither key is written.
    let plain = RunConfig::from_toml("rootfs = \"/r\"\ncommand = [\"x\"]\n", "t").unwrap();
    assert!(!plain.to_toml().contains("publish"), "{}", plain.to_toml());
    // Malformed mappings and modes are refused with the parser's words.
    let e = RunConfig::from_toml("publish = [\"80\"]\n", "t").unwrap_err();
    assert!(e.to_string().contains("a host port is required"), "{e}");
    let e = RunConfig::from_toml("publish_mode = \"slirp\"\n", "t").unwrap_err();
    assert!(e.to_string().contains("unknown publish mode"), "{e}");
}

#[test]
fn publish_mode_resolves_by_network() {
    let with = |net: &str, mode: &str| {
        RunConfig::from_toml(
            &format!("rootfs = \"/r\"\ncommand = [\"x\"]\nnet = \"{net}\"\npublish = [\"8080:80\"]\npublish_mode = \"{mode}\"\n"),
            "t",
        )
        .unwrap()
    };
    assert_eq!(
        with("none", "auto").effective_publish_mode(),
        PublishMode::User
    );
    assert_eq!(
        with("bridge", "auto").effective_publish_mode(),
        PublishMode::Kernel
    );
    assert_eq!(
        with("bridge", "user").effective_publish_mode(),
        PublishMode::User
    );
    let e = with("none", "kernel").validate().unwrap_err();
    assert!(
        e.to_string()
            .contains("--publish-mode kernel needs --net bridge"),
        "{e}"
    );
    let e = with("host", "auto").validate().unwrap_err();
    assert!(
        e.to_string().contains("already uses the host's ports"),
        "{e}"
    );
    let c = RunConfig::from_toml(
        "rootfs = \"/r\"\ncommand = [\"x\"]\npublish = [\"8080:80\", \"8080-8081:90-91\"]\n",
        "t",
    )
    .unwrap();
    let e = c.validate().unwrap_err();
    assert!(e.to_string().contains("publish the same host port"), "{e}");
}
