//! Where a run's data come from — the bundled MNIST or 8 × 8 digits, or the user's own file or
//! folder — and the domain shifts made of them on the fly: the same examples every run.
//!
//! A data spec is a source followed by any number of `:`-separated options and shifts:
//!
//! | source | what it is |
//! |---|---|
//! | `mnist` | the bundled MNIST (28 × 28 grey digits, its own training and test splits) |
//! | `digits` | the bundled 8 × 8 optical digits (scikit-learn's `load_digits`, split 1,497 / 300) |
//! | `FILE.npy` | `[N, D]` vectors, `[N, H, W]` grey images or `[N, H, W, C]` images (C = 1 or 3; `[N, C, H, W]` with `channels-first`), uint8 (scaled to [0, 1]) or float32/float64, memory-mapped |
//! | `FILE.csv` | a table, one example per row (header optional) |
//! | an IDX file | unsigned bytes `[N, H, W]` (Fashion-MNIST, KMNIST, EMNIST) or `[N, D]`, gzipped or not |
//! | `FOLDER` | PNG/JPEG images: one sub-folder per class (torchvision's `ImageFolder`), or flat without labels |
//!
//! | option | effect |
//! |---|---|
//! | `labels=FILE` | labels of a `.npy` or IDX source: a 1-D integer `.npy` or an IDX label file |
//! | `size=HxW` | an image folder's images resized to H × W |
//! | `grey` | an image folder's images converted to grey |
//! | `channels-first` | a 4-D `.npy` is `[N, C, H, W]` |
//!
//! | shift (8-bit images) | effect |
//! |---|---|
//! | `rotate=DEG` | rotate by DEG degrees counter-clockwise about the image centre (bilinear, ink outside the frame is lost) |
//! | `invert` | grey level v ↦ 255 − v (white digits on black become black on white) |
//! | `noise=STD` | add Gaussian noise of standard deviation STD (in units of full scale, 0–1), clamped to [0, 255]; the same noise for the same image every run |
//! | `thicken=N` | N rounds of 3 × 3 grey dilation (maximum): thicker strokes |
//! | `thin=N` | N rounds of 3 × 3 grey erosion (minimum): thinner strokes |
//! | `classes=SET` | keep only the examples of the classes in SET: `5-9`, `0,2,4`, `0-2,7` |
//!
//! e.g. `mnist:rotate=45`, `mnist:classes=5-9`, `digits:classes=0-4:thicken=1`,
//! `photos:size=32x32`, `x.npy:labels=y.npy:invert`. A path holding `:` cannot be named.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::examples::Examples;
use crate::files::{has_extension, read_source_file};
use crate::folder::FolderOptions;
use crate::mnist::load_idx_split;
pub use crate::shift::Shift;
use crate::{DataError, Mnist, Result, Split};

/// The forms a spec may take, for error messages.
pub const SPEC_FORMS: &str = "mnist or digits (bundled), or FILE.npy, FILE.csv, an IDX file or \
    a FOLDER of PNG/JPEG images; then `:`-separated options: labels=FILE (.npy and IDX), \
    size=HxW and grey (folders), channels-first (4-D .npy); and shifts of 8-bit images: \
    rotate=DEG, invert, noise=STD, thicken=N, thin=N, classes=SET (e.g. 5-9 or 0,2,4); \
    e.g. mnist:rotate=45, digits:classes=0-4, photos:size=32x32, x.npy:labels=y.npy";

/// Side of the bundled digits.
pub const DIGITS_SIDE: usize = 8;

/// Where the examples are.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Origin {
    /// The bundled MNIST.
    #[default]
    Mnist,
    /// The bundled 8 × 8 digits.
    Digits,
    /// A file or folder of the user's.
    Path(PathBuf),
}

/// A parsed data spec: the source, its options, the classes kept and the shifts applied. It is
/// parsed once (from the command line or a run's `config.json`) and serialises as its
/// canonical spec string, `mnist:classes=5-9:rotate=45`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DataSource {
    /// Where the examples are.
    pub origin: Origin,
    /// A file of labels (for a `.npy` or IDX source).
    pub labels: Option<PathBuf>,
    /// The (height, width) an image folder's images are resized to.
    pub image_size: Option<(usize, usize)>,
    /// An image folder's images converted to grey.
    pub grey: bool,
    /// A 4-D `.npy` is `[N, C, H, W]`.
    pub channels_first: bool,
    /// Classes kept (all when `None`).
    pub classes: Option<Vec<u32>>,
    /// Pixel shifts, in order.
    pub shifts: Vec<Shift>,
}

/// MNIST's name for a [`DataSource`]: the spec of a run's data.
pub type Domain = DataSource;

fn bad(spec: &str, problem: impl Into<String>) -> DataError {
    DataError::BadSpec {
        spec: spec.to_string(),
        problem: problem.into(),
        forms: SPEC_FORMS,
    }
}

fn parse_classes(spec: &str, text: &str, digits_only: bool) -> Result<Vec<u32>> {
    let mut classes = Vec::new();
    for part in text.split(',') {
        let class = |s: &str| -> Result<u32> {
            let what = if digits_only {
                "a digit 0–9"
            } else {
                "a class number"
            };
            s.trim()
                .parse::<u32>()
                .ok()
                .filter(|d| !digits_only || *d <= 9)
                .ok_or_else(|| bad(spec, format!("`{s}` is not {what}")))
        };
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (class(a)?, class(b)?);
                if a > b {
                    return Err(bad(spec, format!("the range {a}-{b} is empty")));
                }
                classes.extend(a..=b);
            }
            None => classes.push(class(part)?),
        }
    }
    classes.sort_unstable();
    classes.dedup();
    Ok(classes)
}

impl DataSource {
    /// A source of the user's file or folder, without options or shifts.
    pub fn path(path: impl Into<PathBuf>) -> Self {
        Self {
            origin: Origin::Path(path.into()),
            ..Self::default()
        }
    }

    /// Parses a spec (see the module's documentation); anything else is an error that lists
    /// the allowed forms. A path must name an existing file or folder.
    pub fn parse(spec: &str) -> Result<Self> {
        let mut parts = spec.split(':');
        let origin = match parts.next() {
            Some("mnist") => Origin::Mnist,
            Some("digits") => Origin::Digits,
            Some("") | None => return Err(bad(spec, "it names no source")),
            Some(path) if Path::new(path).exists() => Origin::Path(PathBuf::from(path)),
            Some(other) => {
                return Err(bad(
                    spec,
                    format!(
                        "`{other}` is neither `mnist` nor `digits`, nor an existing file or folder"
                    ),
                ))
            }
        };
        // The bundled data sets are digits 0–9; a user's classes are any numbers.
        let digits_only = !matches!(origin, Origin::Path(_));
        let mut source = DataSource {
            origin,
            ..DataSource::default()
        };
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
            let flag = |on: &mut bool| -> Result<()> {
                if value.is_some() {
                    return Err(bad(spec, format!("`{name}` takes no value")));
                }
                *on = true;
                Ok(())
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
                    if source.classes.is_some() {
                        return Err(bad(spec, "`classes` is given twice"));
                    }
                    source.classes = Some(parse_classes(spec, v, digits_only)?);
                    continue;
                }
                "labels" => {
                    let v = value.ok_or_else(|| bad(spec, "`labels` needs `=FILE`"))?;
                    source.labels = Some(PathBuf::from(v));
                    continue;
                }
                "size" => {
                    let v = value.ok_or_else(|| bad(spec, "`size` needs `=HxW`"))?;
                    source.image_size = Some(parse_size(v).ok_or_else(|| {
                        bad(
                            spec,
                            format!("size={v}: give the height and width, e.g. 32x32"),
                        )
                    })?);
                    continue;
                }
                "grey" | "gray" => {
                    flag(&mut source.grey)?;
                    continue;
                }
                "channels-first" => {
                    flag(&mut source.channels_first)?;
                    continue;
                }
                "" => return Err(bad(spec, "an empty shift (`::` or a trailing `:`)")),
                other => return Err(bad(spec, format!("unknown shift `{other}`"))),
            };
            source.shifts.push(shift);
        }
        source
            .check_options()
            .map_err(|problem| bad(spec, problem))?;
        Ok(source)
    }

    /// This source with its file, folder and labels file as absolute paths (where they exist),
    /// so that a run recording it finds its data from any directory.
    pub fn absolute(mut self) -> Self {
        let absolute = |p: PathBuf| std::fs::canonicalize(&p).unwrap_or(p);
        if let Origin::Path(path) = self.origin {
            self.origin = Origin::Path(absolute(path));
        }
        self.labels = self.labels.map(absolute);
        self
    }

    /// This source with the options given set (those of the spec's `labels=`, `size=`, `grey`
    /// and `channels-first`, e.g. from command-line flags); options that do not fit the source
    /// are an error naming the spec.
    pub fn with_options(
        mut self,
        labels: Option<PathBuf>,
        image_size: Option<(usize, usize)>,
        grey: bool,
        channels_first: bool,
    ) -> Result<Self> {
        if labels.is_some() {
            self.labels = labels;
        }
        if image_size.is_some() {
            self.image_size = image_size;
        }
        self.grey |= grey;
        self.channels_first |= channels_first;
        self.check_options()
            .map_err(|problem| bad(&self.to_string(), problem))?;
        Ok(self)
    }

    /// Options that do not fit the source.
    fn check_options(&self) -> std::result::Result<(), String> {
        let path = match &self.origin {
            Origin::Path(path) => Some(path),
            _ => None,
        };
        let is_dir = path.is_some_and(|p| p.is_dir());
        let is_npy = path.is_some_and(|p| has_extension(p, "npy"));
        if self.labels.is_some() && (path.is_none() || is_dir) {
            return Err(
                "labels=FILE is for a .npy or IDX source (a folder's labels are its \
                        sub-folders; mnist and digits have their own)"
                    .into(),
            );
        }
        if (self.image_size.is_some() || self.grey) && !is_dir {
            return Err("size=HxW and grey are for a folder of images".into());
        }
        if self.channels_first && !is_npy {
            return Err("channels-first is for a 4-D .npy source".into());
        }
        Ok(())
    }

    /// Whether the source has its own training and test splits (the bundled data sets);
    /// otherwise its examples are split by a test fraction or another source is the test set.
    pub fn has_splits(&self) -> bool {
        !matches!(self.origin, Origin::Path(_))
    }

    /// The examples of `split` of a bundled source (from `mnist_dir` for MNIST), or all the
    /// examples of a file or folder (`split` then only labels them), the classes kept and the
    /// shifts applied, the first `limit` of what remains. A limit beyond what there is is an
    /// error naming the spec.
    pub fn load(&self, mnist_dir: &Path, split: Split, limit: Option<usize>) -> Result<Examples> {
        let plain = self.classes.is_none() && self.shifts.is_empty();
        if plain && self.origin == Origin::Mnist {
            return Mnist::load(mnist_dir, split, limit);
        }
        let raw = self.read(mnist_dir, split)?;
        let data = if plain { raw } else { self.apply(&raw)? };
        match limit {
            Some(requested) if requested > data.len() => Err(DataError::SpecTooSmall {
                spec: self.to_string(),
                split: match split {
                    Split::Train => "training",
                    Split::Test => "test",
                },
                requested,
                available: data.len(),
            }),
            Some(n) => Ok(data.truncated(n)),
            None => Ok(data),
        }
    }

    /// The examples as the source holds them (before classes and shifts).
    fn read(&self, mnist_dir: &Path, split: Split) -> Result<Examples> {
        match &self.origin {
            Origin::Mnist => Mnist::load(mnist_dir, split, None),
            Origin::Digits => {
                load_idx_split(&crate::default_digits_dir(), split, None, Some(DIGITS_SIDE))
            }
            Origin::Path(path) => {
                let folder = FolderOptions {
                    image_size: self.image_size,
                    grey: self.grey,
                };
                let data =
                    read_source_file(path, self.labels.as_deref(), &folder, self.channels_first)?;
                Ok(data.with_split(split))
            }
        }
    }

    /// The shifted copy of `data`: the chosen classes kept, the shifts applied in order.
    /// Noise is seeded by each image's index in `data` and its split, so an image gets the
    /// same noise every time. Shifts need 8-bit images, and classes labels.
    pub fn apply(&self, data: &Examples) -> Result<Examples> {
        let keep: Vec<usize> = match &self.classes {
            None => (0..data.len()).collect(),
            Some(classes) => {
                let labels = data
                    .labels()
                    .ok_or_else(|| bad(&self.to_string(), "classes=SET needs labelled data"))?;
                (0..data.len())
                    .filter(|i| classes.contains(&labels[*i]))
                    .collect()
            }
        };
        if self.shifts.is_empty() {
            return Ok(data.select(&keep));
        }
        let geometry = match (data.shape().image(), data.is_bytes()) {
            (Some(geometry), true) => geometry,
            _ => {
                return Err(bad(
                    &self.to_string(),
                    format!("shifts apply to 8-bit images; these are {}", data.shape()),
                ))
            }
        };
        let split_code = match data.split() {
            Split::Train => 1u64,
            Split::Test => 2u64,
        };
        let mut pixels = Vec::with_capacity(keep.len() * data.dim());
        for &i in &keep {
            let mut image = data.image(i).to_vec();
            for shift in &self.shifts {
                image = shift.apply_to(&image, geometry, (split_code << 32) | i as u64);
            }
            pixels.extend(image);
        }
        let labels = data
            .labels()
            .map(|labels| keep.iter().map(|i| labels[*i]).collect());
        let shifted = Examples::from_bytes(
            pixels,
            data.shape(),
            labels,
            data.split(),
            Path::new(&self.to_string()),
        )?;
        Ok(match data.classes() {
            Some(names) => shifted.with_classes(names.to_vec()),
            None => shifted,
        })
    }
}

/// `HxW` (or `H×W`).
/// `HxW` (or `H×W`) as (height, width), both at least 1.
pub fn parse_size(text: &str) -> Option<(usize, usize)> {
    let (h, w) = text.split_once(['x', '×', 'X'])?;
    let (h, w) = (h.trim().parse().ok()?, w.trim().parse().ok()?);
    (h > 0 && w > 0).then_some((h, w))
}

/// Reads a data source that may name a bundled data set: `mnist`, `mnist:train` or
/// `mnist:test` (likewise `digits`), optionally followed by shifts (`mnist:test:rotate=45`,
/// `mnist:classes=5-9`). Returns the split (training when not named) and the source, or
/// `None` when `spec` names no bundled data (a file path, even one whose name starts with
/// "mnist").
pub fn parse_source(spec: &str) -> Result<Option<(Split, DataSource)>> {
    let Some((name, rest)) = ["mnist", "digits"]
        .iter()
        .find_map(|name| spec.strip_prefix(name).map(|rest| (*name, rest)))
    else {
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
    let shifts = std::iter::once(name)
        .chain(parts.into_iter().skip(1))
        .collect::<Vec<_>>()
        .join(":");
    match DataSource::parse(&shifts) {
        Ok(source) => Ok(Some((split, source))),
        Err(DataError::BadSpec { problem, .. }) => Err(bad(spec, problem)),
        Err(other) => Err(other),
    }
}

impl std::str::FromStr for DataSource {
    type Err = DataError;

    fn from_str(spec: &str) -> Result<Self> {
        DataSource::parse(spec)
    }
}

impl TryFrom<String> for DataSource {
    type Error = DataError;

    fn try_from(spec: String) -> Result<Self> {
        DataSource::parse(&spec)
    }
}

impl From<DataSource> for String {
    fn from(source: DataSource) -> String {
        source.to_string()
    }
}

impl fmt::Display for DataSource {
    /// The canonical spec (options, then classes, then shifts), parsing back to the same
    /// source.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.origin {
            Origin::Mnist => write!(f, "mnist")?,
            Origin::Digits => write!(f, "digits")?,
            Origin::Path(path) => write!(f, "{}", path.display())?,
        }
        if let Some(labels) = &self.labels {
            write!(f, ":labels={}", labels.display())?;
        }
        if let Some((h, w)) = self.image_size {
            write!(f, ":size={h}x{w}")?;
        }
        if self.grey {
            write!(f, ":grey")?;
        }
        if self.channels_first {
            write!(f, ":channels-first")?;
        }
        if let Some(classes) = &self.classes {
            // Runs of consecutive classes as ranges: 0,1,2,3,4,7 → 0-4,7.
            let mut parts: Vec<String> = Vec::new();
            let mut i = 0;
            while i < classes.len() {
                let mut j = i;
                while j + 1 < classes.len() && classes[j + 1] == classes[j] + 1 {
                    j += 1;
                }
                parts.push(if j > i {
                    format!("{}-{}", classes[i], classes[j])
                } else {
                    classes[i].to_string()
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
            ("cifar", "neither `mnist` nor `digits`"),
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
        assert!(data.labels().unwrap().iter().all(|l| (5..=9).contains(l)));
        // The same digits, in their original order.
        let all = Mnist::load(&dir, Split::Test, Some(1000)).unwrap();
        let expected: Vec<&[u8]> = (0..all.len())
            .filter(|i| all.labels().unwrap()[*i] >= 5)
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
