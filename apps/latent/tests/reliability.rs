//! The run directory under faults, from the command line: empty selections refused, `--resume`
//! honouring or refusing what it is told, kill -9 before the first checkpoint and in the
//! middle of a run, two writers at once, and epoch lines that reach a pipe as they happen.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Output, Stdio};
use std::time::{Duration, Instant};

use common::{latent, scratch};

fn run(args: &[&str]) -> Output {
    latent()
        .args(args)
        .output()
        .expect("the latent binary runs")
}

/// `latent train vae` on a small model, `images` training digits, into `out`.
fn train_args(out: &Path, images: &str) -> Vec<String> {
    [
        "train",
        "vae",
        "--out",
        out.to_str().unwrap(),
        "--hidden",
        "32",
        "--latent",
        "3",
        "--limit",
        images,
        "--test-limit",
        "200",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

fn spawn(args: &[String]) -> Child {
    latent()
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn with(args: &[String], extra: &[&str]) -> Vec<String> {
    args.iter()
        .cloned()
        .chain(extra.iter().map(|s| s.to_string()))
        .collect()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn succeeded(out: &Output) -> String {
    assert!(out.status.success(), "failed: {}", stderr(out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn wait_for(path: &Path, limit: Duration) {
    let start = Instant::now();
    while !path.exists() {
        assert!(
            start.elapsed() < limit,
            "no {} in {limit:?}",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn epochs_logged(run: &Path) -> Vec<u64> {
    std::fs::read_to_string(run.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["epoch"]
                .as_u64()
                .unwrap()
        })
        .collect()
}

#[test]
fn empty_selections_fail_before_any_work() {
    let dir = scratch("empty");
    let out = dir.join("run");
    for flag in ["--limit", "--test-limit"] {
        let mut args = train_args(&out, "256");
        let at = args.iter().position(|a| a == flag).unwrap();
        args[at + 1] = "0".into();
        let result = latent().args(&args).output().unwrap();
        assert!(!result.status.success());
        assert!(
            stderr(&result).contains("at least 1"),
            "{flag}: {}",
            stderr(&result)
        );
        assert!(!out.exists(), "{flag}: nothing written");
    }
    succeeded(
        &latent()
            .args(train_args(&out, "256"))
            .args(["--epochs", "1"])
            .output()
            .unwrap(),
    );
    let run_dir = out.to_str().unwrap();
    for (args, needle) in [
        (
            vec!["eval", "--run", run_dir, "--limit", "0"],
            "none to evaluate",
        ),
        (
            vec!["probe", "--run", run_dir, "--limit", "0"],
            "no training images",
        ),
    ] {
        let result = run(&args);
        assert!(!result.status.success(), "{args:?}");
        assert!(
            stderr(&result).contains(needle),
            "{args:?}: {}",
            stderr(&result)
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// `--resume` continues the recorded run: it refuses other settings by name, says when the run
/// is finished, and after a kill -9 goes on to the run's own epochs, not to a default.
#[test]
fn resume_honours_or_refuses_what_it_is_told() {
    let dir = scratch("resume");
    let out = dir.join("run");
    let base = with(&train_args(&out, "3000"), &["--epochs", "6"]);
    let child = spawn(&base);
    wait_for(&out.join("state.json"), Duration::from_secs(120));
    let mut child = child;
    child.kill().unwrap();
    child.wait().unwrap();
    let done = epochs_logged(&out).len();
    assert!(done < 6, "killed after {done} epochs");

    let run_dir = out.to_str().unwrap();
    for (extra, needle) in [
        (vec!["--latent", "10"], "`model.latent` is 3 there, not 10"),
        (vec!["--lr", "0.01"], "`lr` is 0.001 there, not 0.01"),
    ] {
        let args = [
            &["train", "vae", "--out", run_dir, "--resume"][..],
            &extra[..],
        ]
        .concat();
        let result = run(&args);
        assert!(!result.status.success());
        assert!(
            stderr(&result).contains(needle),
            "{extra:?}: {}",
            stderr(&result)
        );
    }
    let result = run(&["train", "ae", "--out", run_dir, "--resume"]);
    assert!(
        stderr(&result).contains("`kind` is \"vae\" there, not \"ae\""),
        "{}",
        stderr(&result)
    );

    // No --epochs: the run's own six.
    succeeded(&run(&["train", "vae", "--out", run_dir, "--resume"]));
    assert_eq!(epochs_logged(&out), [1, 2, 3, 4, 5, 6]);
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["epochs"], 6);
    let again = succeeded(&run(&["train", "vae", "--out", run_dir, "--resume"]));
    assert!(again.contains("completed its 6 epochs"), "{again}");
    assert_eq!(epochs_logged(&out).len(), 6);
    let _ = std::fs::remove_dir_all(&dir);
}

/// kill -9 after the configuration is written but before the first checkpoint: the directory
/// is no dead end, `--resume` trains it from the beginning (and so would a new start).
#[test]
fn a_run_killed_before_its_first_checkpoint_starts_again() {
    let dir = scratch("early-kill");
    let out = dir.join("run");
    let mut child = spawn(&with(&train_args(&out, "30000"), &["--epochs", "2"]));
    wait_for(&out.join("config.json"), Duration::from_secs(60));
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        !out.join("state.json").exists(),
        "killed before the first checkpoint"
    );
    let args = [
        "train",
        "vae",
        "--out",
        out.to_str().unwrap(),
        "--resume",
        "--limit",
        "30000",
    ];
    let printed = succeeded(&run(&args));
    assert!(
        printed.contains("epoch   1") && printed.contains("epoch   2"),
        "{printed}"
    );
    assert_eq!(epochs_logged(&out), [1, 2]);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Two writers of one run at once: the second fails at once, naming the first's PID, and
/// leaves the run to it.
#[test]
fn a_second_writer_is_refused_at_once() {
    let dir = scratch("two-writers");
    let out = dir.join("run");
    let mut first = spawn(&with(&train_args(&out, "20000"), &["--epochs", "20"]));
    wait_for(&out.join("config.json"), Duration::from_secs(60));
    let start = Instant::now();
    let second = run(&["train", "vae", "--out", out.to_str().unwrap(), "--resume"]);
    assert!(start.elapsed() < Duration::from_secs(10), "refused at once");
    assert!(!second.status.success());
    let message = stderr(&second);
    assert!(
        message.contains(&format!(
            "in use by another latent process (PID {})",
            first.id()
        )),
        "{message}"
    );
    let report = run(&["report", "--run", out.to_str().unwrap(), "--limit", "50"]);
    assert!(stderr(&report).contains("in use"), "{}", stderr(&report));
    first.kill().unwrap();
    first.wait().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

/// Epoch lines reach a pipe as each epoch ends, not when the process exits.
#[test]
fn epoch_lines_reach_a_pipe_as_they_happen() {
    let dir = scratch("pipe");
    let out = dir.join("run");
    let mut child = spawn(&with(&train_args(&out, "20000"), &["--epochs", "6"]));
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first_epoch = lines
        .find_map(|line| line.ok().filter(|l| l.starts_with("epoch   1")))
        .expect("an epoch line");
    assert!(first_epoch.contains("test −ELBO"), "{first_epoch}");
    assert!(
        child.try_wait().unwrap().is_none(),
        "read while the run goes on"
    );
    child.kill().unwrap();
    child.wait().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
