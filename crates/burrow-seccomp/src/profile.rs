//! TOML user profiles (`burrow run --seccomp FILE`); the format is in docs/seccomp-profile.md.

use std::collections::HashSet;
use std::ops::Range;

use seccompiler::BpfProgram;
use serde::Deserialize;
use toml::Spanned;

use crate::bpf::{self, Policy, Rule, ABIS, EPERM, MAX_ERRNO};
use crate::{Error, ProfileError};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Profile {
    default_action: Action,
    #[serde(default)]
    default_errno: Option<Spanned<ErrnoSpec>>,
    #[serde(default)]
    syscalls: Vec<RuleSpec>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleSpec {
    names: Spanned<Vec<Spanned<String>>>,
    action: Action,
    #[serde(default)]
    errno: Option<Spanned<ErrnoSpec>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Action {
    Allow,
    Errno,
    Kill,
    Log,
}

#[derive(Debug, Deserialize)]
#[serde(untagged, expecting = "an errno name like \"EPERM\" or a number")]
enum ErrnoSpec {
    Number(i64),
    Name(String),
}

impl Action {
    fn ret(self, errno: u16) -> u32 {
        match self {
            Action::Allow => bpf::RET_ALLOW,
            Action::Errno => bpf::ret_errno(errno),
            Action::Kill => bpf::RET_KILL_PROCESS,
            Action::Log => bpf::RET_LOG,
        }
    }
}

/// A [`ProfileError`] at byte `span` of `text`, as 1-based line and column.
fn at(text: &str, span: Range<usize>, kind: ProfileError) -> Error {
    let before = text.get(..span.start).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    Error::Profile { line, column, kind }
}

fn errno(spec: &Spanned<ErrnoSpec>, text: &str) -> Result<u16, Error> {
    let (value, shown) = match spec.get_ref() {
        ErrnoSpec::Number(n) => (u16::try_from(*n).ok(), n.to_string()),
        ErrnoSpec::Name(name) => {
            let canonical = match name.to_ascii_uppercase().as_str() {
                "EWOULDBLOCK" => "EAGAIN",
                "EDEADLOCK" => "EDEADLK",
                "ENOTSUP" => "EOPNOTSUPP",
                _ => name.as_str(),
            };
            let found = (1..=MAX_ERRNO).find(|&n| {
                syscalls::Errno::new(i32::from(n))
                    .name()
                    .is_some_and(|known| known.eq_ignore_ascii_case(canonical))
            });
            (found, name.clone())
        }
    };
    value
        .filter(|n| (1..=MAX_ERRNO).contains(n))
        .ok_or_else(|| at(text, spec.span(), ProfileError::InvalidErrno(shown)))
}

/// Compiles a TOML profile (see the crate docs) for every ABI of the host.
///
/// Names unknown on one ABI are skipped there; a name unknown on all of them, a name listed
/// twice, a bad errno, or `errno` on a non-errno rule is an [`Error::Profile`] with its line and
/// column. TOML and format errors (unknown field, unknown action, missing `default_action`) are
/// [`Error::Toml`], with toml's message, which names the line and column.
pub fn profile_program(text: &str) -> Result<BpfProgram, Error> {
    let profile: Profile = toml::from_str(text)?;
    let default_errno = match &profile.default_errno {
        Some(spec) => errno(spec, text)?,
        None => EPERM,
    };
    let mut policies: Vec<Policy> = ABIS
        .iter()
        .map(|abi| Policy {
            abi,
            rules: Vec::new(),
            default: profile.default_action.ret(default_errno),
        })
        .collect();
    let mut seen = HashSet::new();
    for spec in &profile.syscalls {
        if spec.names.get_ref().is_empty() {
            return Err(at(text, spec.names.span(), ProfileError::EmptyNames));
        }
        let ret = match (&spec.errno, spec.action) {
            (Some(e), Action::Errno) => spec.action.ret(errno(e, text)?),
            (Some(e), _) => return Err(at(text, e.span(), ProfileError::ErrnoWithoutErrnoAction)),
            (None, action) => action.ret(default_errno),
        };
        for name in spec.names.get_ref() {
            let n = name.get_ref();
            if !seen.insert(n.as_str()) {
                let kind = ProfileError::DuplicateSyscall(n.clone());
                return Err(at(text, name.span(), kind));
            }
            let mut known = false;
            for policy in &mut policies {
                if let Some(nr) = policy.abi.lookup(n) {
                    policy.rules.push(Rule::new(nr, ret));
                    known = true;
                }
            }
            if !known {
                let kind = ProfileError::UnknownSyscall(n.clone());
                return Err(at(text, name.span(), kind));
            }
        }
    }
    bpf::assemble(&policies)
}
