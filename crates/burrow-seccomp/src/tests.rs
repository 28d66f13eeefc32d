use super::*;
use crate::bpf::*;

const X86_64: u32 = AUDIT_ARCH_X86_64;
const I386: u32 = AUDIT_ARCH_I386;

/// A classic-BPF interpreter for the instructions we emit, with the kernel's checks: every jump
/// lands inside the program, loads are aligned words of `seccomp_data`, and it ends in a return.
fn run(program: &[sock_filter], arch: u32, nr: u32, arg0: u64) -> u32 {
    let mut a = 0u32;
    let mut pc = 0usize;
    loop {
        let insn = &program[pc];
        pc += 1;
        let skip = match insn.code {
            LD_W_ABS => {
                a = match insn.k {
                    OFF_NR => nr,
                    OFF_ARCH => arch,
                    OFF_ARG0_LO => u32::try_from(arg0 & 0xffff_ffff).unwrap(),
                    k => panic!("load from unexpected offset {k}"),
                };
                0
            }
            JA => usize::try_from(insn.k).unwrap(),
            JEQ_K if a == insn.k => usize::from(insn.jt),
            JEQ_K => usize::from(insn.jf),
            JGE_K if a >= insn.k => usize::from(insn.jt),
            JGE_K => usize::from(insn.jf),
            JSET_K if a & insn.k != 0 => usize::from(insn.jt),
            JSET_K => usize::from(insn.jf),
            RET_K => return insn.k,
            code => panic!("unexpected opcode {code:#x}"),
        };
        pc += skip;
        assert!(pc < program.len(), "jump past the end");
    }
}

/// Static checks, as the kernel's `bpf_check_classic` and seccomp's checker do them.
fn check_structure(program: &[sock_filter]) {
    assert!(!program.is_empty() && program.len() <= BPF_MAXINSNS);
    assert_eq!(
        program.last().unwrap().code,
        RET_K,
        "must end with a return"
    );
    for (i, insn) in program.iter().enumerate() {
        let targets: Vec<usize> = match insn.code {
            JA => vec![usize::try_from(insn.k).unwrap()],
            JEQ_K | JSET_K | JGE_K => vec![usize::from(insn.jt), usize::from(insn.jf)],
            LD_W_ABS => {
                assert!(matches!(insn.k, OFF_NR | OFF_ARCH | OFF_ARG0_LO));
                continue;
            }
            RET_K => continue,
            code => panic!("unexpected opcode {code:#x} at {i}"),
        };
        for skip in targets {
            assert!(i + 1 + skip < program.len(), "jump out of range at {i}");
        }
    }
}

fn nr64(name: &str) -> u32 {
    ABIS[0].lookup(name).unwrap()
}

fn nr32(name: &str) -> u32 {
    ABIS[1].lookup(name).unwrap()
}

/// The binary search must decide exactly like a plain first-match list, for every number.
#[test]
fn tree_matches_linear_order() {
    let p = default_program().unwrap();
    for name in DEFAULT_BLOCKED {
        if let Some(nr) = ABIS[0].lookup(name) {
            assert_ne!(
                run(&p, X86_64, nr, 0x0040_0000) & 0xffff_0000,
                RET_ALLOW,
                "{name}"
            );
        }
    }
    let blocked: Vec<u32> = DEFAULT_BLOCKED
        .iter()
        .filter_map(|n| ABIS[0].lookup(n))
        .collect();
    for nr in 0..1024u32 {
        let got = run(&p, X86_64, nr, 0);
        if !blocked.contains(&nr) {
            assert_eq!(got, RET_ALLOW, "nr {nr}");
        }
    }
}

#[test]
fn return_values_match_libc() {
    assert_eq!(RET_ALLOW, libc::SECCOMP_RET_ALLOW);
    assert_eq!(RET_ERRNO, libc::SECCOMP_RET_ERRNO);
    assert_eq!(RET_LOG, libc::SECCOMP_RET_LOG);
    assert_eq!(RET_KILL_PROCESS, libc::SECCOMP_RET_KILL_PROCESS);
    assert_eq!(i32::from(EPERM), libc::EPERM);
    assert_eq!(i32::from(ENOSYS), libc::ENOSYS);
}

#[test]
fn every_default_name_exists_somewhere() {
    for name in DEFAULT_BLOCKED {
        assert!(ABIS.iter().any(|abi| abi.lookup(name).is_some()), "{name}");
    }
    assert!(!DEFAULT_BLOCKED.contains(&"mount"));
    assert!(!DEFAULT_BLOCKED.contains(&"pivot_root"));
}

#[test]
fn default_program_structure() {
    let program = default_program().unwrap();
    check_structure(&program);
    // Dispatch: ld arch, then a (jeq, ja) pair per ABI, then kill.
    assert_eq!(program[0].code, LD_W_ABS);
    assert_eq!(program[0].k, OFF_ARCH);
    assert_eq!(program[1 + 2 * ABIS.len()].k, RET_KILL_PROCESS);
}

#[test]
fn default_program_x86_64() {
    let program = default_program().unwrap();
    let eperm = ret_errno(EPERM);
    for name in DEFAULT_BLOCKED {
        if let Some(nr) = ABIS[0].lookup(name) {
            assert_eq!(run(&program, X86_64, nr, 0), eperm, "{name}");
        }
    }
    for name in [
        "getpid",
        "read",
        "mount",
        "pivot_root",
        "move_mount",
        "fsopen",
        "clone3",
    ] {
        assert_eq!(run(&program, X86_64, nr64(name), 0), RET_ALLOW, "{name}");
    }
    // x32: everything with bit 30 set is ENOSYS, blocked or not.
    for nr in [
        nr64("getpid"),
        nr64("keyctl"),
        0,
        512,
        0xffff_ffff - X32_SYSCALL_BIT,
    ] {
        let x32 = nr | X32_SYSCALL_BIT;
        assert_eq!(run(&program, X86_64, x32, 0), ret_errno(ENOSYS));
    }
}

#[test]
fn default_program_i386() {
    let program = default_program().unwrap();
    let eperm = ret_errno(EPERM);
    let mut blocked = 0;
    for name in DEFAULT_BLOCKED {
        if let Some(nr) = ABIS[1].lookup(name) {
            assert_eq!(run(&program, I386, nr, 0), eperm, "{name}");
            blocked += 1;
        }
    }
    assert!(blocked > 30);
    // i386 numbers differ (keyctl is 288 there, 250 on x86_64, where 250 is i386's
    // fadvise64), so a table mix-up shows.
    assert_eq!(nr32("keyctl"), 288);
    assert_eq!(run(&program, I386, nr32("vm86"), 0), eperm);
    assert_eq!(run(&program, I386, nr64("keyctl"), 0), RET_ALLOW);
    for name in ["getpid", "socketcall", "mount", "pivot_root"] {
        assert_eq!(run(&program, I386, nr32(name), 0), RET_ALLOW, "{name}");
    }
    // No x32 guard on i386: bit 30 is just an invalid number, left to the kernel.
    assert_eq!(run(&program, I386, X32_SYSCALL_BIT | 20, 0), RET_ALLOW);
}

#[test]
fn default_program_personality() {
    let program = default_program().unwrap();
    for (arch, nr) in [(X86_64, nr64("personality")), (I386, nr32("personality"))] {
        for &allowed in PERSONALITY_ALLOWED {
            assert_eq!(run(&program, arch, nr, u64::from(allowed)), RET_ALLOW);
        }
        // Only the low 32 bits count.
        assert_eq!(run(&program, arch, nr, 0x1_0000_0008), RET_ALLOW);
        for denied in [0x0004_0000, 0x0040_0000, 0x0000_0001, 0x0002_0001] {
            assert_eq!(run(&program, arch, nr, denied), ret_errno(EPERM));
        }
        // The nr is reloaded after the argument check: later rules still work.
        let after = if arch == X86_64 {
            nr64("getpid")
        } else {
            nr32("getpid")
        };
        assert_eq!(run(&program, arch, after, 0x0040_0000), RET_ALLOW);
    }
}

#[test]
fn other_arches_are_killed() {
    let program = default_program().unwrap();
    for arch in [
        0xc000_00b7, /* AARCH64 */
        0x4000_0028, /* ARM */
        0,
        0xffff_ffff,
    ] {
        assert_eq!(run(&program, arch, 39, 0), RET_KILL_PROCESS);
    }
}

const GETPPID_ENOSYS: &str = r#"
default_action = "allow"
[[syscalls]]
names = ["getppid"]
action = "errno"
errno = "ENOSYS"
"#;

#[test]
fn profile_basic() {
    let program = profile_program(GETPPID_ENOSYS).unwrap();
    check_structure(&program);
    let enosys = ret_errno(ENOSYS);
    assert_eq!(run(&program, X86_64, nr64("getppid"), 0), enosys);
    assert_eq!(run(&program, I386, nr32("getppid"), 0), enosys);
    assert_eq!(run(&program, X86_64, nr64("getpid"), 0), RET_ALLOW);
    assert_eq!(run(&program, X86_64, nr64("keyctl"), 0), RET_ALLOW);
    assert_eq!(run(&program, X86_64, X32_SYSCALL_BIT, 0), enosys);
    assert_eq!(run(&program, 0, 0, 0), RET_KILL_PROCESS);
}

#[test]
fn profile_actions_and_errnos() {
    let text = r#"
default_action = "errno"
default_errno = 13
[[syscalls]]
names = ["read", "write", "vm86"]
action = "allow"
[[syscalls]]
names = ["kexec_file_load"]
action = "kill"
[[syscalls]]
names = ["getpid"]
action = "log"
[[syscalls]]
names = ["keyctl"]
action = "errno"
[[syscalls]]
names = ["bpf"]
action = "errno"
errno = "ewouldblock"
"#;
    let program = profile_program(text).unwrap();
    check_structure(&program);
    let eacces = ret_errno(13);
    assert_eq!(run(&program, X86_64, nr64("read"), 0), RET_ALLOW);
    assert_eq!(run(&program, I386, nr32("write"), 0), RET_ALLOW);
    assert_eq!(run(&program, I386, nr32("vm86"), 0), RET_ALLOW);
    assert_eq!(
        run(&program, X86_64, nr64("kexec_file_load"), 0),
        RET_KILL_PROCESS
    );
    assert_eq!(run(&program, X86_64, nr64("getpid"), 0), RET_LOG);
    assert_eq!(run(&program, I386, nr32("keyctl"), 0), eacces);
    assert_eq!(run(&program, X86_64, nr64("bpf"), 0), ret_errno(11));
    assert_eq!(run(&program, X86_64, nr64("mount"), 0), eacces);
    assert_eq!(
        run(&program, X86_64, X32_SYSCALL_BIT | 1, 0),
        ret_errno(ENOSYS)
    );
}

#[test]
fn profile_empty_rules() {
    let program = profile_program("default_action = \"kill\"\n").unwrap();
    check_structure(&program);
    assert_eq!(run(&program, X86_64, 0, 0), RET_KILL_PROCESS);
}

#[test]
fn profile_every_syscall_fits() {
    // The largest sensible profile: every x86_64 and i386 name, all in one rule.
    let mut names: Vec<&str> = syscalls::x86_64::Sysno::iter().map(|s| s.name()).collect();
    names.extend(syscalls::x86::Sysno::iter().map(|s| s.name()));
    names.sort_unstable();
    names.dedup();
    let quoted: Vec<String> = names.iter().map(|n| format!("\"{n}\"")).collect();
    let text = format!(
        "default_action = \"kill\"\n[[syscalls]]\nnames = [{}]\naction = \"allow\"\n",
        quoted.join(", ")
    );
    let program = profile_program(&text).unwrap();
    check_structure(&program);
    assert_eq!(run(&program, I386, nr32("socketcall"), 0), RET_ALLOW);
    assert_eq!(run(&program, X86_64, 999, 0), RET_KILL_PROCESS);
}

fn profile_err(text: &str) -> Error {
    profile_program(text).unwrap_err()
}

#[test]
fn profile_toml_errors_keep_position() {
    for (text, needle, line) in [
        ("default_action = \"allow\"\nbogus = 1\n", "unknown field `bogus`", 2),
        (
            "default_action = \"allow\"\n[[syscalls]]\nnames = [\"read\"]\naction = \"allow\"\nerrnoo = 1\n",
            "unknown field `errnoo`",
            5,
        ),
        (
            "default_action = \"allow\"\n[[syscalls]]\nnames = [\"read\"]\naction = \"deny\"\n",
            "unknown variant `deny`",
            4,
        ),
        ("default_action = \"nope\"\n", "unknown variant `nope`", 1),
        ("[[syscalls]]\nnames = [\"read\"]\naction = \"allow\"\n", "default_action", 1),
        ("default_action = \n", "", 1),
        (
            "default_action = \"errno\"\ndefault_errno = true\n",
            "an errno name like \"EPERM\" or a number",
            2,
        ),
    ] {
        let err = profile_err(text);
        assert!(matches!(err, Error::Toml(_)), "{err:?}");
        let msg = err.to_string();
        assert!(msg.contains(needle), "{msg}");
        assert!(msg.contains(&format!("line {line}")), "{msg}");
    }
}

#[test]
fn profile_semantic_errors() {
    let cases = [
        (
            "default_action = \"allow\"\n[[syscalls]]\nnames = [\"read\", \"no_such_call\"]\naction = \"kill\"\n",
            3,
            18,
            ProfileError::UnknownSyscall("no_such_call".into()),
        ),
        (
            "default_action = \"allow\"\n[[syscalls]]\nnames = [\"read\"]\naction = \"kill\"\n[[syscalls]]\nnames = [\"write\", \"read\"]\naction = \"allow\"\n",
            6,
            19,
            ProfileError::DuplicateSyscall("read".into()),
        ),
        (
            "default_action = \"allow\"\n[[syscalls]]\nnames = [\"read\", \"read\"]\naction = \"kill\"\n",
            3,
            18,
            ProfileError::DuplicateSyscall("read".into()),
        ),
        (
            "default_action = \"errno\"\ndefault_errno = \"EWHAT\"\n",
            2,
            17,
            ProfileError::InvalidErrno("EWHAT".into()),
        ),
        (
            "default_action = \"errno\"\ndefault_errno = 4096\n",
            2,
            17,
            ProfileError::InvalidErrno("4096".into()),
        ),
        (
            "default_action = \"errno\"\ndefault_errno = 0\n",
            2,
            17,
            ProfileError::InvalidErrno("0".into()),
        ),
        (
            "default_action = \"allow\"\n[[syscalls]]\nnames = [\"read\"]\naction = \"kill\"\nerrno = \"EPERM\"\n",
            5,
            9,
            ProfileError::ErrnoWithoutErrnoAction,
        ),
        (
            "default_action = \"allow\"\n[[syscalls]]\nnames = []\naction = \"kill\"\n",
            3,
            9,
            ProfileError::EmptyNames,
        ),
    ];
    for (text, want_line, want_column, want_kind) in &cases {
        match profile_err(text) {
            Error::Profile { line, column, kind } => {
                assert_eq!((line, column, &kind), (*want_line, *want_column, want_kind));
            }
            other => panic!("{other:?}"),
        }
    }
    let msg = profile_err(cases[0].0).to_string();
    assert_eq!(
        msg,
        "seccomp profile, line 3, column 18: unknown syscall `no_such_call`"
    );
}

#[test]
fn install_rejects_oversized() {
    let program = vec![
        sock_filter {
            code: RET_K,
            jt: 0,
            jf: 0,
            k: RET_ALLOW
        };
        4097
    ];
    assert!(matches!(install(&program), Err(Error::TooLarge(4097))));
}
