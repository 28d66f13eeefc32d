//! The classic-BPF assembler: per-ABI policies in, one seccomp program out.

use seccompiler::{sock_filter, BpfProgram};

use crate::Error;

// Return values (linux/seccomp.h).
pub(crate) const RET_KILL_PROCESS: u32 = 0x8000_0000;
pub(crate) const RET_ERRNO: u32 = 0x0005_0000;
pub(crate) const RET_LOG: u32 = 0x7ffc_0000;
pub(crate) const RET_ALLOW: u32 = 0x7fff_0000;

pub(crate) const EPERM: u16 = 1;
pub(crate) const ENOSYS: u16 = 38;
/// Largest errno the kernel passes through (`MAX_ERRNO`).
pub(crate) const MAX_ERRNO: u16 = 4095;

/// `BPF_MAXINSNS`.
pub(crate) const BPF_MAXINSNS: usize = 4096;
/// `__X32_SYSCALL_BIT`.
pub(crate) const X32_SYSCALL_BIT: u32 = 0x4000_0000;

// Opcodes (linux/bpf_common.h).
pub(crate) const LD_W_ABS: u16 = 0x20; // BPF_LD | BPF_W | BPF_ABS
pub(crate) const JA: u16 = 0x05; // BPF_JMP | BPF_JA
pub(crate) const JEQ_K: u16 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
pub(crate) const JSET_K: u16 = 0x45; // BPF_JMP | BPF_JSET | BPF_K
pub(crate) const RET_K: u16 = 0x06; // BPF_RET | BPF_K

// Offsets in `struct seccomp_data` (little-endian: args[0]'s low word comes first).
pub(crate) const OFF_NR: u32 = 0;
pub(crate) const OFF_ARCH: u32 = 4;
pub(crate) const OFF_ARG0_LO: u32 = 16;

#[cfg(target_arch = "x86_64")]
pub(crate) const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
#[cfg(target_arch = "x86_64")]
pub(crate) const AUDIT_ARCH_I386: u32 = 0x4000_0003;
#[cfg(target_arch = "aarch64")]
pub(crate) const AUDIT_ARCH_AARCH64: u32 = 0xc000_00b7;

/// One syscall ABI: its audit arch and its name -> number table.
#[derive(Debug)]
pub(crate) struct Abi {
    pub(crate) audit_arch: u32,
    /// x86_64 only: every number with [`X32_SYSCALL_BIT`] set gets `ENOSYS`.
    pub(crate) x32: bool,
    table: fn(&str) -> Option<i32>,
}

impl Abi {
    /// The syscall number of `name` on this ABI, if it exists there.
    pub(crate) fn lookup(&self, name: &str) -> Option<u32> {
        (self.table)(name).and_then(|nr| u32::try_from(nr).ok())
    }
}

/// The ABIs of the host architecture, the native one first.
#[cfg(target_arch = "x86_64")]
pub(crate) const ABIS: &[Abi] = &[
    Abi {
        audit_arch: AUDIT_ARCH_X86_64,
        x32: true,
        table: |name| Some(name.parse::<syscalls::x86_64::Sysno>().ok()?.id()),
    },
    Abi {
        audit_arch: AUDIT_ARCH_I386,
        x32: false,
        table: |name| Some(name.parse::<syscalls::x86::Sysno>().ok()?.id()),
    },
];

/// The ABIs of the host architecture, the native one first.
#[cfg(target_arch = "aarch64")]
pub(crate) const ABIS: &[Abi] = &[Abi {
    audit_arch: AUDIT_ARCH_AARCH64,
    x32: false,
    table: |name| Some(name.parse::<syscalls::aarch64::Sysno>().ok()?.id()),
}];

/// `nr` gets `ret`, unless the low 32 bits of args[0] are one of `unless_arg0`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Rule {
    pub(crate) nr: u32,
    pub(crate) ret: u32,
    pub(crate) unless_arg0: &'static [u32],
}

impl Rule {
    pub(crate) fn new(nr: u32, ret: u32) -> Self {
        Rule {
            nr,
            ret,
            unless_arg0: &[],
        }
    }
}

/// The rules of one ABI, first match wins, then `default`.
#[derive(Debug)]
pub(crate) struct Policy<'a> {
    pub(crate) abi: &'a Abi,
    pub(crate) rules: Vec<Rule>,
    pub(crate) default: u32,
}

pub(crate) fn ret_errno(errno: u16) -> u32 {
    RET_ERRNO | u32::from(errno)
}

fn stmt(code: u16, k: u32) -> sock_filter {
    sock_filter {
        code,
        jt: 0,
        jf: 0,
        k,
    }
}

fn jump(code: u16, k: u32, jt: u8, jf: u8) -> sock_filter {
    sock_filter { code, jt, jf, k }
}

fn short(skip: usize) -> Result<u8, Error> {
    u8::try_from(skip).map_err(|_| Error::TooLarge(skip))
}

pub(crate) const JGE_K: u16 = 0x35; // BPF_JMP | BPF_JGE | BPF_K

/// Rules checked one after the other, then the default.
fn linear(rules: &[Rule], default: u32) -> Result<Vec<sock_filter>, Error> {
    let mut out = Vec::new();
    for rule in rules {
        let n = rule.unless_arg0.len();
        if n == 0 {
            out.push(jump(JEQ_K, rule.nr, 0, 1));
            out.push(stmt(RET_K, rule.ret));
            continue;
        }
        // jeq nr, 0, n+2 | ld arg0 | n x (jeq v, ->reload, 0) | ret | reload: ld nr
        out.push(jump(JEQ_K, rule.nr, 0, short(n + 2)?));
        out.push(stmt(LD_W_ABS, OFF_ARG0_LO));
        for (i, &value) in rule.unless_arg0.iter().enumerate() {
            out.push(jump(JEQ_K, value, short(n - i)?, 0));
        }
        out.push(stmt(RET_K, rule.ret));
        out.push(stmt(LD_W_ABS, OFF_NR));
    }
    out.push(stmt(RET_K, default));
    Ok(out)
}

/// Rules sorted by number, as a binary search: `jge` splits until a few are left. Every
/// syscall walks about log2(rules) comparisons instead of all of them (the kernel runs the
/// filter for every syscall number when it is installed, to build its cache).
fn tree(rules: &[Rule], default: u32) -> Result<Vec<sock_filter>, Error> {
    if rules.len() <= 4 {
        return linear(rules, default);
    }
    let mid = rules.len() / 2;
    let low = tree(&rules[..mid], default)?;
    let high = tree(&rules[mid..], default)?;
    // jge nr_mid: true falls into `high`, false skips it to `low` (through a `ja`, whose
    // offset is 32 bits, when `high` is longer than a conditional jump reaches).
    let mut out = match u8::try_from(high.len()) {
        Ok(skip) => vec![jump(JGE_K, rules[mid].nr, 0, skip)],
        Err(_) => vec![
            jump(JGE_K, rules[mid].nr, 1, 0),
            stmt(
                JA,
                u32::try_from(high.len()).map_err(|_| Error::TooLarge(high.len()))?,
            ),
        ],
    };
    out.extend(high);
    out.extend(low);
    Ok(out)
}

/// One ABI's block: load nr, x32 guard, the rules, the default. First match wins, so for a
/// number listed twice only its first rule counts; the rest are ordered by number.
fn block(policy: &Policy) -> Result<Vec<sock_filter>, Error> {
    let mut out = vec![stmt(LD_W_ABS, OFF_NR)];
    if policy.abi.x32 {
        out.push(jump(JSET_K, X32_SYSCALL_BIT, 0, 1));
        out.push(stmt(RET_K, ret_errno(ENOSYS)));
    }
    let mut rules: Vec<Rule> = Vec::with_capacity(policy.rules.len());
    for r in &policy.rules {
        if !rules.iter().any(|x| x.nr == r.nr) {
            rules.push(*r);
        }
    }
    rules.sort_by_key(|r| r.nr);
    out.extend(tree(&rules, policy.default)?);
    Ok(out)
}

/// Dispatch on `seccomp_data.arch` to one block per ABI; any other arch is killed.
pub(crate) fn assemble(policies: &[Policy]) -> Result<BpfProgram, Error> {
    let blocks = policies.iter().map(block).collect::<Result<Vec<_>, _>>()?;
    let mut program = vec![stmt(LD_W_ABS, OFF_ARCH)];
    // ld, a (jeq, ja) pair per ABI, ret kill.
    let mut target = 2 + 2 * policies.len();
    for (policy, block) in policies.iter().zip(&blocks) {
        program.push(jump(JEQ_K, policy.abi.audit_arch, 0, 1));
        let skip = target - (program.len() + 1);
        program.push(stmt(
            JA,
            u32::try_from(skip).map_err(|_| Error::TooLarge(skip))?,
        ));
        target += block.len();
    }
    program.push(stmt(RET_K, RET_KILL_PROCESS));
    program.extend(blocks.into_iter().flatten());
    if program.len() > BPF_MAXINSNS {
        return Err(Error::TooLarge(program.len()));
    }
    Ok(program)
}
