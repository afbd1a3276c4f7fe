//! The cuda backend of a binary built with `--features cuda`. On a machine without an NVIDIA
//! driver (CI) every use of it fails with a sentence naming what is missing, never a panic; on
//! a machine with one, `latent info` names the device and a short VAE run trains on it and
//! agrees with flex on its first epoch.

use std::process::{Command, Output};

fn latent(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_latent"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("the latent binary runs")
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Whether this machine has the CUDA driver, as `latent info` reports it.
fn driver_present() -> bool {
    let out = latent(&["info"]);
    let (stdout, stderr) = text(&out);
    assert!(
        out.status.success(),
        "latent info failed: {stdout}\n{stderr}"
    );
    assert!(
        stdout.contains("cuda "),
        "info says nothing of cuda: {stdout}"
    );
    stdout.contains("cuda     driver: CUDA")
}

#[test]
fn without_a_driver_cuda_fails_with_a_clear_error() {
    if driver_present() {
        eprintln!("an NVIDIA driver is present: tested by the next test instead");
        return;
    }
    let info = text(&latent(&["info"])).0;
    assert!(
        info.contains("cuda     compiled in, but unusable here: no CUDA driver here"),
        "{info}"
    );
    let dir = std::env::temp_dir().join(format!("latent-cuda-{}", std::process::id()));
    let out_dir = dir.join("run");
    let out_dir = out_dir.to_str().unwrap();
    for args in [
        &[
            "--backend",
            "cuda",
            "data",
            "mnist",
            "--split",
            "test",
            "--limit",
            "10",
        ][..],
        &[
            "--backend",
            "cuda",
            "--gpu",
            "1",
            "train",
            "vae",
            "--epochs",
            "1",
            "--out",
            out_dir,
        ],
        &[
            "train",
            "vae",
            "--devices",
            "flex,cuda:0",
            "--epochs",
            "1",
            "--out",
            out_dir,
        ],
    ] {
        let out = latent(args);
        let (stdout, stderr) = text(&out);
        assert!(!out.status.success(), "{args:?} succeeded: {stdout}");
        assert!(
            stderr
                .contains("no CUDA driver here: the NVIDIA driver's libcuda.so.1 cannot be loaded"),
            "{args:?}: {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{args:?} panicked: {stderr}");
    }
    assert!(
        !dir.join("run").exists(),
        "a refused run wrote its directory"
    );
}

#[test]
fn with_a_driver_a_vae_trains_on_cuda_as_on_flex() {
    if !driver_present() {
        eprintln!("no NVIDIA driver here: tested by the previous test instead");
        return;
    }
    let dir = std::env::temp_dir().join(format!("latent-cuda-train-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut first_epoch = Vec::new();
    for backend in ["flex", "cuda"] {
        let run = dir.join(backend);
        let out = latent(&[
            "--backend",
            backend,
            "train",
            "vae",
            "--epochs",
            "1",
            "--limit",
            "2048",
            "--test-limit",
            "512",
            "--hidden",
            "64",
            "--latent",
            "8",
            "--seed",
            "3",
            "--out",
            run.to_str().unwrap(),
        ]);
        let (stdout, stderr) = text(&out);
        assert!(out.status.success(), "{backend}: {stdout}\n{stderr}");
        let metrics = std::fs::read_to_string(run.join("metrics.jsonl")).unwrap();
        let epoch: serde_json::Value =
            serde_json::from_str(metrics.lines().next().unwrap()).unwrap();
        first_epoch.push(epoch["test_neg_elbo"].as_f64().unwrap());
    }
    // One epoch of 32 steps from the same seed and the same noise: the two backends sum in
    // different orders, so the losses agree to float precision compounded over the steps.
    let (flex, cuda) = (first_epoch[0], first_epoch[1]);
    assert!(cuda.is_finite(), "cuda test −ELBO {cuda}");
    assert!(
        (flex - cuda).abs() <= 1e-3 * flex.abs(),
        "test −ELBO after one epoch: flex {flex}, cuda {cuda}"
    );
}
