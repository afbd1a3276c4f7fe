//! Domain shifts of MNIST, made on the fly from the bundled files: no download, the same
//! digits every run.
//!
//! A data spec is `mnist` followed by any number of `:`-separated shifts, applied in order
//! after the class filter:
//!
//! | shift | effect |
//! |---|---|
//! | `rotate=DEG` | rotate by DEG degrees counter-clockwise about the image centre (bilinear, ink outside the frame is lost) |
//! | `invert` | grey level v ↦ 255 − v (white digits on black become black on white) |
//! | `noise=STD` | add Gaussian noise of standard deviation STD (in units of full scale, 0–1), clamped to [0, 255]; the same noise for the same image every run |
//! | `thicken=N` | N rounds of 3 × 3 grey dilation (maximum): thicker strokes |
//! | `thin=N` | N rounds of 3 × 3 grey erosion (minimum): thinner strokes |
//! | `classes=SET` | keep only the digits in SET: `5-9`, `0,2,4`, `0-2,7` |
//!
//! e.g. `mnist:rotate=45`, `mnist:classes=5-9`, `mnist:classes=0-4:thicken=1`.

use std::fmt;
use std::path::Path;

use burn::data::dataset::Dataset;
use rand::rngs::StdRng;
use rand::SeedableRng;
use rand_distr::{Distribution, Normal};
use serde::{Deserialize, Serialize};

use crate::mnist::{PIXELS, SIDE};
use crate::{DataError, Mnist, Result, Split};

/// The forms a spec may take, for error messages.
pub const SPEC_FORMS: &str = "mnist, optionally followed by `:`-separated shifts: rotate=DEG, \
    invert, noise=STD, thicken=N, thin=N, classes=SET (e.g. 5-9 or 0,2,4); \
    e.g. mnist:rotate=45 or mnist:classes=5-9:invert";

/// One shift of the data.
#[derive(Debug, Clone, PartialEq)]
pub enum Shift {
    /// Rotation about the image centre, counter-clockwise, bilinear.
    Rotate {
        /// Angle in degrees.
        degrees: f64,
    },
    /// Grey level v ↦ 255 − v.
    Invert,
    /// Gaussian noise added to each pixel (clamped to the grey range), seeded by the image.
    Noise {
        /// Standard deviation in units of full scale (0–1).
        std: f64,
    },
    /// Rounds of 3 × 3 grey dilation.
    Thicken {
        /// How many rounds (1–10).
        rounds: usize,
    },
    /// Rounds of 3 × 3 grey erosion.
    Thin {
        /// How many rounds (1–10).
        rounds: usize,
    },
}

/// A parsed data spec: the digits it keeps and the pixel shifts it applies. It is parsed once
/// (from the command line or a run's `config.json`) and serialises as its canonical spec
/// string, `mnist:classes=5-9:rotate=45`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Domain {
    /// Digits kept (all ten when `None`).
    pub classes: Option<Vec<u8>>,
    /// Pixel shifts, in order.
    pub shifts: Vec<Shift>,
}

fn bad(spec: &str, problem: impl Into<String>) -> DataError {
    DataError::BadSpec {
        spec: spec.to_string(),
        problem: problem.into(),
        forms: SPEC_FORMS,
    }
}

fn parse_classes(spec: &str, text: &str) -> Result<Vec<u8>> {
    let mut digits = Vec::new();
    for part in text.split(',') {
        let digit = |s: &str| -> Result<u8> {
            s.trim()
                .parse::<u8>()
                .ok()
                .filter(|d| *d <= 9)
                .ok_or_else(|| bad(spec, format!("`{s}` is not a digit 0–9")))
        };
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (digit(a)?, digit(b)?);
                if a > b {
                    return Err(bad(spec, format!("the range {a}-{b} is empty")));
                }
                digits.extend(a..=b);
            }
            None => digits.push(digit(part)?),
        }
    }
    digits.sort_unstable();
    digits.dedup();
    Ok(digits)
}

impl Domain {
    /// Parses a spec such as `mnist:rotate=45:classes=5-9`; anything else is an error that
    /// lists the allowed forms.
    pub fn parse(spec: &str) -> Result<Self> {
        let mut parts = spec.split(':');
        if parts.next() != Some("mnist") {
            return Err(bad(spec, "it must start with `mnist`"));
        }
        let mut domain = Domain::default();
        for part in parts {
            let (name, value) = match part.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (part, None),
            };
            let number = |what: &str| -> Result<f64> {
                let v = value.ok_or_else(|| bad(spec, format!("`{name}` needs `={what}`")))?;
                v.parse::<f64>()
                    .ok()
                    .filter(|x| x.is_finite())
                    .ok_or_else(|| bad(spec, format!("`{v}` is not a number ({name}={what})")))
            };
            let rounds = |what: &str| -> Result<usize> {
                let v = value.ok_or_else(|| bad(spec, format!("`{name}` needs `={what}`")))?;
                v.parse::<usize>()
                    .ok()
                    .filter(|n| (1..=10).contains(n))
                    .ok_or_else(|| bad(spec, format!("{name}={v}: rounds must be 1 to 10")))
            };
            let shift = match name {
                "rotate" => Shift::Rotate {
                    degrees: number("DEG")?,
                },
                "invert" if value.is_none() => Shift::Invert,
                "invert" => return Err(bad(spec, "`invert` takes no value")),
                "noise" => {
                    let std = number("STD")?;
                    if std < 0.0 {
                        return Err(bad(spec, "the noise's standard deviation must be ≥ 0"));
                    }
                    Shift::Noise { std }
                }
                "thicken" => Shift::Thicken {
                    rounds: rounds("N")?,
                },
                "thin" => Shift::Thin {
                    rounds: rounds("N")?,
                },
                "classes" => {
                    let v = value.ok_or_else(|| bad(spec, "`classes` needs `=SET`"))?;
                    if domain.classes.is_some() {
                        return Err(bad(spec, "`classes` is given twice"));
                    }
                    domain.classes = Some(parse_classes(spec, v)?);
                    continue;
                }
                "" => return Err(bad(spec, "an empty shift (`::` or a trailing `:`)")),
                other => return Err(bad(spec, format!("unknown shift `{other}`"))),
            };
            domain.shifts.push(shift);
        }
        Ok(domain)
    }

    /// Loads `split` from `dir`, keeps the chosen classes, applies the shifts, and keeps the
    /// first `limit` of what remains. Plain MNIST (no class filter, no shift) is read as it is.
    pub fn load(&self, dir: &Path, split: Split, limit: Option<usize>) -> Result<Mnist> {
        if *self == Domain::default() {
            return Mnist::load(dir, split, limit);
        }
        let data = Mnist::load(dir, split, None)?;
        let shifted = self.apply(&data);
        match limit {
            Some(requested) if requested > shifted.len() => Err(DataError::SpecTooSmall {
                spec: self.to_string(),
                split: match split {
                    Split::Train => "training",
                    Split::Test => "test",
                },
                requested,
                available: shifted.len(),
            }),
            Some(n) => Ok(shifted.truncated(n)),
            None => Ok(shifted),
        }
    }

    /// The shifted copy of `data`. Noise is seeded by each image's index in `data` and its
    /// split, so an image gets the same noise every time.
    pub fn apply(&self, data: &Mnist) -> Mnist {
        let keep: Vec<usize> = (0..data.len())
            .filter(|i| {
                self.classes
                    .as_ref()
                    .is_none_or(|digits| digits.contains(&data.labels()[*i]))
            })
            .collect();
        let split_code = match data.split() {
            Split::Train => 1u64,
            Split::Test => 2u64,
        };
        let mut pixels = Vec::with_capacity(keep.len() * PIXELS);
        for &i in &keep {
            let mut image = data.image(i).to_vec();
            for shift in &self.shifts {
                image = shift.apply(&image, (split_code << 32) | i as u64);
            }
            pixels.extend(image);
        }
        let labels = keep.iter().map(|i| data.labels()[*i]).collect();
        Mnist::from_parts(pixels, labels, data.split())
    }
}

/// Reads a data source that may name MNIST: `mnist`, `mnist:train` or `mnist:test`, optionally
/// followed by shifts (`mnist:test:rotate=45`, `mnist:classes=5-9`). Returns the split
/// (training when not named) and the domain, or `None` when `spec` names no MNIST data (a file
/// path, even one whose name starts with "mnist").
pub fn parse_source(spec: &str) -> Result<Option<(Split, Domain)>> {
    let Some(rest) = spec.strip_prefix("mnist") else {
        return Ok(None);
    };
    if !(rest.is_empty() || rest.starts_with(':')) {
        return Ok(None);
    }
    let mut parts: Vec<&str> = rest.split(':').skip(1).collect();
    let split = match parts.first() {
        Some(&"train") => Split::Train,
        Some(&"test") => Split::Test,
        _ => {
            parts.insert(0, "train");
            Split::Train
        }
    };
    let shifts = std::iter::once("mnist")
        .chain(parts.into_iter().skip(1))
        .collect::<Vec<_>>()
        .join(":");
    match Domain::parse(&shifts) {
        Ok(domain) => Ok(Some((split, domain))),
        Err(DataError::BadSpec { problem, .. }) => Err(bad(spec, problem)),
        Err(other) => Err(other),
    }
}

impl std::str::FromStr for Domain {
    type Err = DataError;

    fn from_str(spec: &str) -> Result<Self> {
        Domain::parse(spec)
    }
}

impl TryFrom<String> for Domain {
    type Error = DataError;

    fn try_from(spec: String) -> Result<Self> {
        Domain::parse(&spec)
    }
}

impl From<Domain> for String {
    fn from(domain: Domain) -> String {
        domain.to_string()
    }
}

impl fmt::Display for Domain {
    /// The canonical spec (classes first), parsing back to the same domain.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "mnist")?;
        if let Some(digits) = &self.classes {
            // Runs of consecutive digits as ranges: 0,1,2,3,4,7 → 0-4,7.
            let mut parts: Vec<String> = Vec::new();
            let mut i = 0;
            while i < digits.len() {
                let mut j = i;
                while j + 1 < digits.len() && digits[j + 1] == digits[j] + 1 {
                    j += 1;
                }
                parts.push(if j > i {
                    format!("{}-{}", digits[i], digits[j])
                } else {
                    digits[i].to_string()
                });
                i = j + 1;
            }
            write!(f, ":classes={}", parts.join(","))?;
        }
        for shift in &self.shifts {
            match shift {
                Shift::Rotate { degrees } => write!(f, ":rotate={degrees}")?,
                Shift::Invert => write!(f, ":invert")?,
                Shift::Noise { std } => write!(f, ":noise={std}")?,
                Shift::Thicken { rounds } => write!(f, ":thicken={rounds}")?,
                Shift::Thin { rounds } => write!(f, ":thin={rounds}")?,
            }
        }
        Ok(())
    }
}

impl Shift {
    /// This shift of one 28 × 28 image; `key` seeds the noise.
    pub fn apply(&self, image: &[u8], key: u64) -> Vec<u8> {
        match self {
            Shift::Rotate { degrees } => rotate(image, *degrees),
            Shift::Invert => image.iter().map(|v| 255 - v).collect(),
            Shift::Noise { std } => {
                let mut rng = StdRng::seed_from_u64(key ^ 0x6e6f_6973_6500_0000);
                let normal = Normal::new(0.0, std * 255.0).expect("std ≥ 0 was checked");
                image
                    .iter()
                    .map(|v| {
                        (*v as f64 + normal.sample(&mut rng))
                            .round()
                            .clamp(0.0, 255.0) as u8
                    })
                    .collect()
            }
            Shift::Thicken { rounds } => {
                (0..*rounds).fold(image.to_vec(), |im, _| neighbourhood(&im, |a, b| a.max(b)))
            }
            Shift::Thin { rounds } => {
                (0..*rounds).fold(image.to_vec(), |im, _| neighbourhood(&im, |a, b| a.min(b)))
            }
        }
    }
}

/// Counter-clockwise rotation (as seen, rows going down) about the centre (13.5, 13.5), by
/// bilinear interpolation from the source; outside the frame is paper (0).
fn rotate(image: &[u8], degrees: f64) -> Vec<u8> {
    let (sin, cos) = degrees.to_radians().sin_cos();
    let centre = (SIDE as f64 - 1.0) / 2.0;
    let at = |x: isize, y: isize| -> f64 {
        if x < 0 || y < 0 || x >= SIDE as isize || y >= SIDE as isize {
            0.0
        } else {
            image[y as usize * SIDE + x as usize] as f64
        }
    };
    let mut out = vec![0u8; PIXELS];
    for y in 0..SIDE {
        for x in 0..SIDE {
            let (dx, dy) = (x as f64 - centre, y as f64 - centre);
            // The source of (x, y) is (x, y) turned back by the angle.
            let sx = centre + dx * cos - dy * sin;
            let sy = centre + dx * sin + dy * cos;
            let (x0, y0) = (sx.floor(), sy.floor());
            let (fx, fy) = (sx - x0, sy - y0);
            let (x0, y0) = (x0 as isize, y0 as isize);
            let value = at(x0, y0) * (1.0 - fx) * (1.0 - fy)
                + at(x0 + 1, y0) * fx * (1.0 - fy)
                + at(x0, y0 + 1) * (1.0 - fx) * fy
                + at(x0 + 1, y0 + 1) * fx * fy;
            out[y * SIDE + x] = value.round().clamp(0.0, 255.0) as u8;
        }
    }
    out
}

/// Combines each pixel with its 3 × 3 neighbourhood (inside the frame) by `pick`.
fn neighbourhood(image: &[u8], pick: impl Fn(u8, u8) -> u8) -> Vec<u8> {
    let mut out = vec![0u8; PIXELS];
    for y in 0..SIDE {
        for x in 0..SIDE {
            let mut value = image[y * SIDE + x];
            for ny in y.saturating_sub(1)..=(y + 1).min(SIDE - 1) {
                for nx in x.saturating_sub(1)..=(x + 1).min(SIDE - 1) {
                    value = pick(value, image[ny * SIDE + nx]);
                }
            }
            out[y * SIDE + x] = value;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A spec is parsed once and travels through `config.json` as its canonical string; a bad
    /// one in a file is refused with the allowed forms, as on the command line.
    #[test]
    fn a_domain_serialises_as_its_canonical_spec() {
        let domain = Domain::parse("mnist:rotate=45:classes=7,5-6").unwrap();
        let json = serde_json::to_string(&domain).unwrap();
        assert_eq!(json, "\"mnist:classes=5-7:rotate=45\"");
        assert_eq!(serde_json::from_str::<Domain>(&json).unwrap(), domain);
        let err = serde_json::from_str::<Domain>("\"mnist:spin=3\"").unwrap_err();
        assert!(err.to_string().contains("rotate=DEG"), "{err}");
        assert_eq!("mnist".parse::<Domain>().unwrap(), Domain::default());
    }

    fn mnist_dir() -> std::path::PathBuf {
        crate::default_mnist_dir()
    }

    #[test]
    fn specs_parse_print_back_and_fail_clearly() {
        let d =
            Domain::parse("mnist:classes=5-9:rotate=45:invert:noise=0.2:thicken=1:thin=2").unwrap();
        assert_eq!(d.classes, Some(vec![5, 6, 7, 8, 9]));
        assert_eq!(d.shifts.len(), 5);
        assert_eq!(Domain::parse(&d.to_string()).unwrap(), d);
        assert_eq!(
            Domain::parse("mnist:classes=7,0,1,2:invert")
                .unwrap()
                .to_string(),
            "mnist:classes=0-2,7:invert"
        );
        assert_eq!(Domain::parse("mnist").unwrap(), Domain::default());
        assert_eq!(
            Domain::parse("mnist:classes=0-2,7,1").unwrap().classes,
            Some(vec![0, 1, 2, 7])
        );
        for (spec, needle) in [
            ("cifar", "must start with `mnist`"),
            ("mnist:rotate", "needs `=DEG`"),
            ("mnist:rotate=abc", "not a number"),
            ("mnist:spin=3", "unknown shift `spin`"),
            ("mnist:classes=3-1", "empty"),
            ("mnist:classes=12", "not a digit"),
            ("mnist:noise=-1", "≥ 0"),
            ("mnist:thin=0", "1 to 10"),
            ("mnist:invert=1", "no value"),
            ("mnist:", "empty shift"),
        ] {
            let err = Domain::parse(spec).unwrap_err().to_string();
            assert!(err.contains(needle), "{spec}: {err}");
            assert!(
                err.contains("rotate=DEG"),
                "{spec}: the forms are listed: {err}"
            );
        }
    }

    #[test]
    fn shifts_match_hand_made_expectations() {
        let data = Mnist::load(&mnist_dir(), Split::Test, Some(50)).unwrap();
        let image = data.image(0).to_vec();
        // Rotation by 0 and inverting twice are the identity; four quarter turns come back.
        assert_eq!(Shift::Rotate { degrees: 0.0 }.apply(&image, 0), image);
        let inverted = Shift::Invert.apply(&image, 0);
        assert!(inverted.iter().zip(&image).all(|(a, b)| *a == 255 - *b));
        assert_eq!(Shift::Invert.apply(&inverted, 0), image);
        let quarter = Shift::Rotate { degrees: 90.0 };
        let once = quarter.apply(&image, 0);
        assert_ne!(once, image);
        let full = (0..3).fold(once, |im, _| quarter.apply(&im, 0));
        assert_eq!(full, image);
        // A quarter turn counter-clockwise takes the top-middle pixel to the left-middle.
        let mut dot = vec![0u8; PIXELS];
        dot[13] = 255; // (x 13, y 0)
        let turned = quarter.apply(&dot, 0);
        assert_eq!(turned[14 * SIDE], 255, "(x 0, y 14)");
        assert_eq!(turned.iter().filter(|v| **v > 0).count(), 1);
        // Thickening never removes ink and adds some; thinning never adds any.
        let thick = Shift::Thicken { rounds: 1 }.apply(&image, 0);
        let thin = Shift::Thin { rounds: 1 }.apply(&image, 0);
        assert!(thick.iter().zip(&image).all(|(a, b)| a >= b));
        assert!(thin.iter().zip(&image).all(|(a, b)| a <= b));
        let ink = |im: &[u8]| im.iter().map(|v| *v as u64).sum::<u64>();
        assert!(ink(&thick) > ink(&image) && ink(&thin) < ink(&image));
        // Noise: zero noise is the identity, the same key gives the same noise, its spread is
        // as asked on mid-grey pixels (no clamping there).
        assert_eq!(Shift::Noise { std: 0.0 }.apply(&image, 3), image);
        let noisy = Shift::Noise { std: 0.1 };
        assert_eq!(noisy.apply(&image, 3), noisy.apply(&image, 3));
        assert_ne!(noisy.apply(&image, 3), noisy.apply(&image, 4));
        let grey = vec![128u8; PIXELS];
        let d: Vec<f64> = noisy
            .apply(&grey, 9)
            .iter()
            .map(|v| *v as f64 - 128.0)
            .collect();
        let sd = (d.iter().map(|x| x * x).sum::<f64>() / d.len() as f64).sqrt();
        // 784 draws: the sample SD is within ~4 standard errors (25.5 · 4 / √1568 ≈ 2.6).
        assert!((sd - 25.5).abs() < 2.6, "{sd}");
    }

    #[test]
    fn data_sources_name_a_split_and_shifts_or_a_file() {
        let d = |spec| parse_source(spec).unwrap();
        assert_eq!(d("mnist"), Some((Split::Train, Domain::default())));
        assert_eq!(d("mnist:test"), Some((Split::Test, Domain::default())));
        let (split, domain) = d("mnist:test:rotate=45:classes=1").unwrap();
        assert_eq!(split, Split::Test);
        assert_eq!(domain.to_string(), "mnist:classes=1:rotate=45");
        assert_eq!(d("mnist:invert").unwrap().0, Split::Train);
        assert_eq!(d("mnist_small.csv"), None);
        assert_eq!(d("data/points.npy"), None);
        let err = parse_source("mnist:test:spin").unwrap_err().to_string();
        assert!(
            err.contains("`mnist:test:spin`") && err.contains("unknown shift"),
            "{err}"
        );
    }

    #[test]
    fn class_splits_and_limits() {
        let dir = mnist_dir();
        let high = Domain::parse("mnist:classes=5-9").unwrap();
        let data = high.load(&dir, Split::Test, Some(300)).unwrap();
        assert_eq!(data.len(), 300);
        assert!(data.labels().iter().all(|l| (5..=9).contains(l)));
        // The same digits, in their original order.
        let all = Mnist::load(&dir, Split::Test, Some(1000)).unwrap();
        let expected: Vec<&[u8]> = (0..all.len())
            .filter(|i| all.labels()[*i] >= 5)
            .map(|i| all.image(i))
            .take(300)
            .collect();
        assert!((0..300).all(|i| data.image(i) == expected[i]));
        // Asking for more than the classes hold names the spec.
        let err = Domain::parse("mnist:classes=1")
            .unwrap()
            .load(&dir, Split::Test, Some(5000))
            .unwrap_err()
            .to_string();
        assert!(err.contains("mnist:classes=1"), "{err}");
    }
}
