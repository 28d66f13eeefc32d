//! The generated documentation of the front end: completion scripts and manual pages come
//! from the clap tree, so they list exactly the options the binary takes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use burrow_tests::*;
use std::process::Command;

/// The build-time generator (built by `cargo build --release`, not installed).
fn docs() -> std::path::PathBuf {
    let dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| workspace().join("target"));
    dir.join("release/burrow-docs")
}

#[test]
fn bash_completion_completes_subcommands_and_run_options() {
    require!();
    let script = String::from_utf8(
        Command::new(docs())
            .args(["completion", "bash"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let complete = |words: &str, cword: usize| {
        let out = Command::new("bash")
            .args([
                "-c",
                &format!(
                    "{script}\nCOMP_WORDS=({words}); COMP_CWORD={cword}; _burrow burrow \"${{COMP_WORDS[$COMP_CWORD]}}\" \"${{COMP_WORDS[$COMP_CWORD-1]}}\"; echo \"${{COMPREPLY[@]}}\""
                ),
            ])
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    };
    assert_eq!(complete("burrow ru", 1), "run");
    assert_eq!(complete("burrow r", 1), "run rm rmi");
    let opts = complete("burrow run --mem", 2);
    assert_eq!(opts, "--memory --memory-swap");
    for shell in ["zsh", "fish"] {
        let out = Command::new(docs())
            .args(["completion", shell])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0));
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(text.contains("memory-swap"), "{shell}: {text}");
    }
    let bad = Command::new(docs())
        .args(["completion", "tcsh"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
fn man_pages_are_generated_for_every_subcommand() {
    require!();
    let dir = tempdir("man");
    let out = Command::new(docs()).arg("man").arg(&dir).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let listed = String::from_utf8(out.stdout).unwrap();
    for page in [
        "burrow.1",
        "burrow-run.1",
        "burrow-exec.1",
        "burrow-admin-add-user.1",
        "burrow-doctor.1",
        "burrow-port.1",
    ] {
        let p = dir.join(page);
        assert!(
            listed.contains(&p.display().to_string()),
            "{page}: {listed}"
        );
        let roff = std::fs::read_to_string(&p).unwrap();
        assert!(roff.starts_with(".ie \\n(.g .ds Aq"), "{page}");
    }
    let run = std::fs::read_to_string(dir.join("burrow-run.1")).unwrap();
    for opt in [
        "\\-\\-memory",
        "\\-\\-net",
        "\\-\\-cap\\-policy",
        "\\-\\-idmap",
        "\\-\\-publish",
        "\\-\\-publish\\-mode",
    ] {
        assert!(run.contains(opt), "{opt} missing from burrow-run(1)");
    }
    // The generator is not part of burrow's command line.
    assert!(!dir.join("burrow-completion.1").exists());
    let _ = std::fs::remove_dir_all(&dir);
}
