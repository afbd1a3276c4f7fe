//! Training on several devices and on `latent serve` compute servers over loopback: the test
//! starts and stops every server itself, and bounds every wait.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{latent, scratch};

/// A `latent serve` process on a free loopback port, killed when dropped.
struct Server {
    child: Child,
    url: String,
}

impl Server {
    fn start() -> Server {
        Server::start_with(&["--port", "0"])
    }

    fn start_with(args: &[&str]) -> Server {
        let mut child = latent()
            .args(["--backend", "flex", "serve"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("latent serve starts");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("latent serve prints its address within 30 s");
        let url = line
            .split_whitespace()
            .find(|w| w.starts_with("ws://") || w.starts_with("iroh://"))
            .unwrap_or_else(|| panic!("no address in {line:?}"))
            .trim_end_matches(';')
            .replace("THIS-HOST", "127.0.0.1");
        Server { child, url }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits for `child` at most `limit`, killing it past that.
fn finish(mut child: Child, limit: Duration) -> Output {
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > limit {
            let _ = child.kill();
            panic!("still running after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    child.wait_with_output().unwrap()
}

/// `latent train vae` on small settings (hidden 64, latent 4, batch 64, 3,200 digits: 50 steps
/// an epoch), with `extra` flags, waited for at most `limit`.
fn train(out: &Path, extra: &[&str], limit: Duration) -> Output {
    train_kind("vae", out, extra, limit)
}

fn train_kind(kind: &str, out: &Path, extra: &[&str], limit: Duration) -> Output {
    let child = latent()
        .args(["train", kind, "--out", out.to_str().unwrap()])
        .args(["--hidden", "64", "--latent", "4", "--batch-size", "64"])
        .args(["--limit", "3200", "--test-limit", "500"])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    finish(child, limit)
}

fn metrics(run: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(run.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn field(m: &serde_json::Value, name: &str) -> f64 {
    m[name].as_f64().unwrap()
}

fn succeeded(out: &Output) {
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Two compute servers, data-parallel runs across them, must train as one local device does:
/// the main device draws every step's noise and sends each server its slice, so the losses
/// agree up to the order of float sums (1e-4 relative) — for the autoencoder, the VAE and the
/// VAE with the IWAE objective (whose noise has a sample axis before the batch axis).
#[test]
fn two_servers_train_as_one_device_does() {
    let dir = scratch("two");
    let (a, b) = (Server::start(), Server::start());
    let devices = format!("{},{}", a.url, b.url);
    let limit = Duration::from_secs(300);

    for (name, kind, extra) in [
        ("ae", "ae", &[][..]),
        ("r1", "vae", &[][..]),
        ("iwae", "vae", &["--iwae", "3"][..]),
    ] {
        let (remote, local) = (dir.join(name), dir.join(format!("{name}-local")));
        let run = |out: &Path, more: &[&str]| {
            let args = [&["--epochs", "2", "--seed", "3"][..], extra, more].concat();
            train_kind(kind, out, &args, limit)
        };
        succeeded(&run(&remote, &["--devices", &devices]));
        succeeded(&run(&local, &["--backend", "flex"]));
        let (r, l) = (metrics(&remote), metrics(&local));
        assert_eq!(r.len(), 2);
        for (r, l) in r.iter().zip(&l) {
            for field_name in ["train_loss", "test_reconstruction", "test_kl"] {
                let (x, y) = (field(r, field_name), field(l, field_name));
                assert!(
                    (x - y).abs() <= 1e-4 * y.abs(),
                    "{name} {field_name}: remote {x} vs local {y}"
                );
            }
        }
        // The loss falls: the runs compared learned something.
        assert!(
            field(&r[1], "train_loss") < field(&r[0], "train_loss") - 5.0,
            "{name}: {r:?}"
        );
    }

    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("r1/config.json")).unwrap())
            .unwrap();
    let execution = &config["execution"];
    assert_eq!(execution["strategy"], "multi");
    assert_eq!(execution["devices"], serde_json::json!([a.url, b.url]));
    assert_eq!(execution["device_batch"], serde_json::json!([32, 32]));
    assert_eq!(execution["effective_batch_size"], 64);
    assert_eq!(execution["effective_lr"], 0.001);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A server killed mid-run: a clear error naming it, a non-zero exit, and a checkpoint that
/// resumes on one local device.
#[test]
fn a_server_killed_mid_run_fails_clearly_and_the_run_resumes_locally() {
    killed_mid_run(2);
}

/// The same with the run's only device on the server (an error, not a panic, there too).
#[test]
fn the_only_server_killed_mid_run_fails_clearly_and_the_run_resumes_locally() {
    killed_mid_run(1);
}

/// A run on `count` servers whose last one is killed after the first epoch.
fn killed_mid_run(count: usize) {
    let dir = scratch(&format!("killed-{count}"));
    let mut servers: Vec<Server> = (0..count).map(|_| Server::start()).collect();
    let run = dir.join("run");
    let devices = servers
        .iter()
        .map(|s| s.url.as_str())
        .collect::<Vec<_>>()
        .join(",");
    let child = latent()
        .args(["train", "vae", "--out", run.to_str().unwrap()])
        .args(["--hidden", "64", "--latent", "4", "--batch-size", "64"])
        .args(["--limit", "3200", "--test-limit", "200", "--seed", "3"])
        .args(["--epochs", "50", "--devices", &devices])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Kill the last server once an epoch is done.
    let b = servers.last_mut().expect("at least one server");
    let start = Instant::now();
    while !run.join("state.json").exists() {
        assert!(
            start.elapsed() < Duration::from_secs(300),
            "no epoch in 300 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    b.child.kill().unwrap();
    b.child.wait().unwrap();
    let out = finish(child, Duration::from_secs(120));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains(&format!("device {}", b.url)), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(err.contains("--resume"), "{err}");
    let done = metrics(&run).len();
    assert!((1..50).contains(&done));
    // The run's own 50 epochs, the rest on one local device (--resume takes the run's settings).
    let child = latent()
        .args(["train", "vae", "--out", run.to_str().unwrap()])
        .args(["--backend", "flex", "--resume"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let resumed = finish(child, Duration::from_secs(120));
    succeeded(&resumed);
    let after = metrics(&run);
    assert_eq!(after.len(), 50);
    assert!(field(&after[49], "test_neg_elbo") < field(&after[done - 1], "test_neg_elbo"));
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["execution"]["devices"], serde_json::json!(["flex"]));
    drop(servers);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Nothing listening, a listener that never answers, a malformed address, a strategy burn
/// cannot run here: each fails fast with a message that says what is wrong.
#[test]
fn wrong_addresses_fail_fast_and_clearly() {
    let dir = scratch("wrong");
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = free.local_addr().unwrap().port();
    drop(free);
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_url = format!("ws://{}", silent.local_addr().unwrap());
    let nothing = format!("ws://127.0.0.1:{port}");
    for (devices, needle, limit) in [
        (nothing.as_str(), nothing.as_str(), 10),
        (silent_url.as_str(), "no answer within", 30),
        ("ws://127.0.0.1", "expected ndarray, flex", 10),
        ("iroh://not-an-id@127.0.0.1:9", "not an Iroh server id", 10),
        ("tpu", "unknown device `tpu`", 10),
    ] {
        let start = Instant::now();
        let out = train(
            &dir.join("run"),
            &["--epochs", "1", "--devices", devices],
            Duration::from_secs(limit + 30),
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{devices}");
        assert!(err.contains(needle), "{devices}: no {needle:?} in {err}");
        assert!(
            start.elapsed() < Duration::from_secs(limit),
            "{devices}: {:?}",
            start.elapsed()
        );
    }
    let out = train(
        &dir.join("run"),
        &[
            "--epochs",
            "1",
            "--strategy",
            "ddp",
            "--devices",
            "flex,flex",
        ],
        Duration::from_secs(30),
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("CUDA"));
    drop(silent);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Iroh (authenticated, encrypted QUIC) with relays disabled, dialled directly on loopback, and
/// a token: the right one trains (an Iroh device beside a local one), a wrong or missing one is
/// refused at once, saying so.
#[test]
fn an_iroh_server_with_a_token_serves_only_its_clients() {
    let dir = scratch("iroh");
    let port = {
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        socket.local_addr().unwrap().port().to_string()
    };
    let server = Server::start_with(&["--transport", "iroh", "--port", &port, "--token", "s3cret"]);
    assert!(server.url.starts_with("iroh://"), "{}", server.url);
    let devices = format!("{},flex", server.url);
    let run = dir.join("run");
    let out = train(
        &run,
        &["--epochs", "2", "--devices", &devices, "--token", "s3cret"],
        Duration::from_secs(300),
    );
    succeeded(&out);
    let m = metrics(&run);
    assert!(
        field(&m[1], "test_neg_elbo") < field(&m[0], "test_neg_elbo"),
        "{m:?}"
    );
    for token in [&["--token", "wrong"][..], &[]] {
        let start = Instant::now();
        let out = train(
            &dir.join("refused"),
            &[&["--epochs", "1", "--devices", &server.url][..], token].concat(),
            Duration::from_secs(60),
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success());
        assert!(err.contains("rejected the credential"), "{err}");
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "{:?}",
            start.elapsed()
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
