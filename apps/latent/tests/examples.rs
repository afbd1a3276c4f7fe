//! The cargo examples (examples/*.rs), built by `cargo test` with the package's other targets,
//! each run on a tiny budget so that they cannot rot: their figures printed, their files
//! written.

use std::path::PathBuf;
use std::process::Command;

/// The built example `name` (cargo puts examples beside the binaries, in `examples/`); built
/// here if this test was run alone (`cargo test --test examples` builds no examples).
fn example(name: &str) -> PathBuf {
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_latent"));
    let path = bin
        .parent()
        .expect("the binaries' directory")
        .join("examples")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    if !path.is_file() {
        let status = Command::new(env!("CARGO"))
            .args(["build", "-p", "latent", "--example", name])
            .status()
            .expect("cargo runs");
        assert!(status.success(), "cannot build the example {name}");
    }
    path
}

fn run(name: &str, args: &[&str]) -> String {
    let out = Command::new(example(name))
        .args(args)
        .output()
        .expect("the example starts");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{name} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("latent-example-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn is_png(path: &std::path::Path) -> bool {
    std::fs::read(path).is_ok_and(|bytes| bytes.starts_with(b"\x89PNG"))
}

#[test]
fn the_custom_encoder_trains_resumes_evaluates_and_samples() {
    let out = scratch("custom");
    let printed = run(
        "custom_encoder",
        &[
            "--epochs",
            "2",
            "--limit",
            "512",
            "--iw-samples",
            "20",
            "--eval-limit",
            "50",
            "--out",
            out.to_str().unwrap(),
        ],
    );
    // Epoch 2 came from the resumed run, and the bound is below the ELBO.
    assert!(
        printed.contains("epoch 1:") && printed.contains("epoch 2:"),
        "{printed}"
    );
    let evaluation = printed
        .lines()
        .find(|l| l.contains("test digits"))
        .unwrap_or_else(|| panic!("no evaluation: {printed}"));
    let figure = |label: &str| -> f64 {
        let at = evaluation
            .find(label)
            .unwrap_or_else(|| panic!("{label}: {evaluation}"));
        let rest = &evaluation[at + label.len()..];
        rest.split_whitespace()
            .next()
            .unwrap()
            .trim_end_matches(',')
            .parse()
            .unwrap()
    };
    assert!(figure("−log p(x) ≈ ") < -figure("ELBO "), "{printed}");
    let config = std::fs::read_to_string(out.join("config.json")).unwrap();
    assert!(
        config.contains("\"blocks\": 2"),
        "the model's own configuration is recorded"
    );
    assert!(is_png(&out.join("images/samples.png")));
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn the_gmm_example_fits_scores_samples_selects_and_goes_beyond_scikit_learn() {
    let printed = run("gmm", &[]);
    assert!(
        printed.contains("held-out mean log-likelihood"),
        "{printed}"
    );
    assert!(printed.contains("best by BIC: K = 3"), "{printed}");
    // Three well-separated blobs: the Bayesian fit keeps three of its six components.
    assert!(
        printed.contains("Bayesian fit: 3 effective components of 6"),
        "{printed}"
    );
    let imputed = printed
        .lines()
        .find(|l| l.contains("first point imputed as"))
        .expect("the missing-values line");
    assert!(!imputed.contains("NaN"), "{imputed}");
    // Streamed and in-memory EM: the same bound to the digits printed.
    let streamed = printed
        .lines()
        .find(|l| l.starts_with("streamed in chunks"))
        .expect("the streamed line");
    let bounds: Vec<&str> = streamed
        .split([' ', ','])
        .filter(|w| w.starts_with('-') && w.len() > 3)
        .collect();
    assert_eq!(bounds.len(), 2, "{streamed}");
    assert_eq!(bounds[0], bounds[1], "{streamed}");
}

#[test]
fn the_vae_example_trains_saves_loads_and_samples() {
    let out = scratch("vae");
    let printed = run("vae", &["--steps", "30", "--out", out.to_str().unwrap()]);
    let elbo = |step: &str| -> f64 {
        let line = printed.lines().find(|l| l.starts_with(step)).unwrap();
        line.rsplit(' ').next().unwrap().parse().unwrap()
    };
    assert!(elbo("step 29:") < elbo("step 0:") - 100.0, "{printed}");
    assert!(out.join("vae.bpk").is_file() && is_png(&out.join("samples.png")));
    let _ = std::fs::remove_dir_all(&out);
}
