//! One test's world for the container tests that run `burrow` as a test user on the busybox
//! rootfs (`tests/tests/restart.rs`, `tests/tests/ports_user.rs`): private XDG_RUNTIME_DIR and
//! XDG_DATA_HOME (so private state and container directories) and a private rootfs; on drop
//! every container is removed (`rm -f`) and the directories deleted.

use crate::*;

/// The user with a real subordinate range, made once per test binary (`tag` names it on the
/// first call), after checking the installed front end is there.
pub fn ctr_user(tag: &str) -> &'static TestUser {
    static U: OnceLock<TestUser> = OnceLock::new();
    U.get_or_init(|| {
        let u = TestUser::get(tag);
        u.ensure_real_subids();
        assert!(
            helper("burrow").is_file(),
            "{} missing: cargo build --release, then tests/install-helpers.sh",
            helper("burrow").display()
        );
        u
    })
}

/// See the module.
#[derive(Debug)]
pub struct CtrEnv {
    /// The user.
    pub user: TestUser,
    /// XDG_RUNTIME_DIR (XDG_DATA_HOME is its `data`).
    pub xdg: PathBuf,
    /// The container's root.
    pub rootfs: Rootfs,
}

impl CtrEnv {
    /// A world named `tag` for `user`.
    pub fn new(user: &TestUser, tag: &str) -> CtrEnv {
        let xdg = tempdir(&format!("{tag}-xdg"));
        sh(&format!(
            "chown {}:{} {d} && chmod 0700 {d}",
            user.uid,
            user.gid,
            d = xdg.display()
        ));
        let rootfs = Rootfs::new(user, &format!("{tag}-rootfs"));
        CtrEnv {
            user: user.clone(),
            xdg,
            rootfs,
        }
    }

    /// Runs `script` (bash; `$B` is burrow) as the user in this world.
    pub fn script(&self, script: &str, args: &[&str]) -> Ran {
        Run::new(&self.user)
            .env("BURROW_HELPERS_DIR", &helpers_dir())
            .env("XDG_RUNTIME_DIR", self.xdg.to_str().unwrap_or_default())
            .env(
                "XDG_DATA_HOME",
                self.xdg.join("data").to_str().unwrap_or_default(),
            )
            .env("B", helper("burrow").to_str().unwrap_or_default())
            .script(script, args)
    }

    /// `burrow ARGS...`.
    pub fn b(&self, args: &[&str]) -> Ran {
        self.script("exec \"$B\" \"$@\"", args)
    }

    /// `burrow inspect NAME`, which must succeed, as JSON.
    #[track_caller]
    pub fn inspect(&self, name: &str) -> serde_json::Value {
        let r = self.b(&["inspect", name]);
        assert_eq!(r.code, Some(0), "{r:?}");
        serde_json::from_str(&r.stdout).unwrap_or_default()
    }
}

impl Drop for CtrEnv {
    fn drop(&mut self) {
        let _ = self.script(
            "for d in \"$XDG_DATA_HOME\"/burrow/containers/*/; do [ -d \"$d\" ] && \"$B\" rm -f \"$(basename \"$d\")\"; done >/dev/null 2>&1",
            &[],
        );
        let _ = fs::remove_dir_all(&self.xdg);
    }
}

/// `ctr_env_newtype!(Env)` declares `struct Env(CtrEnv)`, which derefs to [`CtrEnv`]: a test
/// file's own world type, for the methods that file adds.
#[macro_export]
macro_rules! ctr_env_newtype {
    ($name:ident) => {
        struct $name($crate::ctr_env::CtrEnv);

        impl std::ops::Deref for $name {
            type Target = $crate::ctr_env::CtrEnv;
            fn deref(&self) -> &$crate::ctr_env::CtrEnv {
                &self.0
            }
        }
    };
}
