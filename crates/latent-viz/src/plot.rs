//! Line, scatter, bar, density and pairs plots as PNG files.
//!
//! Drawn with plotters on an in-memory RGB bitmap and encoded with the png crate. Text is set in
//! DejaVu Sans, bundled with the crate, so a plot renders the same on a headless machine with no
//! system fonts. Every function takes plain slices; non-finite values are left out of the picture
//! (and out of the axis ranges), empty inputs give empty axes, and constant inputs a centred range.

use std::ops::Range;
use std::path::Path;
use std::sync::Once;

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::{write_png, VizError};

/// Width and height of line and bar plots, in pixels.
pub const WIDE: (u32, u32) = (800, 480);
/// Width and height of scatter and density plots, in pixels.
pub const SQUARE: (u32, u32) = (720, 720);

/// Ten distinguishable colours (Tableau 10), one per class; class c gets `PALETTE[c % 10]`.
pub const PALETTE: [(u8, u8, u8); 10] = [
    (31, 119, 180),
    (255, 127, 14),
    (44, 160, 44),
    (214, 39, 40),
    (148, 103, 189),
    (140, 86, 75),
    (227, 119, 194),
    (127, 127, 127),
    (188, 189, 34),
    (23, 190, 207),
];

const FONT: &str = "sans-serif";

pub(crate) fn colour(class: usize) -> RGBColor {
    let (r, g, b) = PALETTE[class % PALETTE.len()];
    RGBColor(r, g, b)
}

fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let bytes: &'static [u8] = include_bytes!("../fonts/DejaVuSans.ttf");
        if plotters::style::register_font(FONT, FontStyle::Normal, bytes).is_err() {
            // The font is part of the crate; failing to parse it is a build defect.
            unreachable!("the bundled DejaVu Sans font does not parse");
        }
    });
}

pub(crate) fn plot_error(e: impl std::fmt::Display) -> VizError {
    VizError::Plot(e.to_string())
}

type Area<'a> = DrawingArea<BitMapBackend<'a>, Shift>;

/// Draws on a white `size` canvas with `draw` and writes the result to `path` as an RGB PNG.
pub(crate) fn render(
    path: &Path,
    size: (u32, u32),
    draw: impl FnOnce(&Area) -> Result<(), VizError>,
) -> Result<(), VizError> {
    register_font();
    let mut pixels = vec![255u8; size.0 as usize * size.1 as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut pixels, size).into_drawing_area();
        draw(&root)?;
        root.present().map_err(plot_error)?;
    }
    write_png(
        path,
        size.0 as usize,
        size.1 as usize,
        &pixels,
        png::ColorType::Rgb,
    )
}

/// The range of the finite `values`, padded by 5 % on each side; a constant gets ±0.5 (or ±5 %
/// of its size), and no finite value at all gives 0..1.
pub fn padded_range(values: impl IntoIterator<Item = f64>) -> Range<f64> {
    let (lo, hi) = values
        .into_iter()
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
    if lo > hi {
        return 0.0..1.0;
    }
    let width = hi - lo;
    if width <= 1e-12 * lo.abs().max(1.0) {
        let pad = (0.05 * lo.abs()).max(0.5);
        return lo - pad..hi + pad;
    }
    lo - 0.05 * width..hi + 0.05 * width
}

/// One named curve of a line plot.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// The curve's name in the legend.
    pub name: String,
    /// The (x, y) points, joined in order; non-finite points are left out.
    pub points: Vec<(f64, f64)>,
}

impl Series {
    /// The curve `name` through `points`.
    pub fn new(name: impl Into<String>, points: Vec<(f64, f64)>) -> Self {
        Self {
            name: name.into(),
            points,
        }
    }
}

/// Titles of a plot and its axes.
#[derive(Debug, Clone, Copy)]
pub struct Labels<'a> {
    /// The plot's title, above it.
    pub title: &'a str,
    /// The x axis's description.
    pub x: &'a str,
    /// The y axis's description.
    pub y: &'a str,
}

fn finite(p: &(f64, f64)) -> bool {
    p.0.is_finite() && p.1.is_finite()
}

/// Curves against a shared x axis, with a legend.
pub fn line_plot(path: &Path, labels: Labels, series: &[Series]) -> Result<(), VizError> {
    let xs = padded_range(series.iter().flat_map(|s| s.points.iter().map(|p| p.0)));
    let ys = padded_range(series.iter().flat_map(|s| s.points.iter().map(|p| p.1)));
    render(path, WIDE, |root| {
        let mut chart = chart(root, labels.title, xs, ys)?;
        light_grid(&mut chart, labels)?;
        for (i, s) in series.iter().enumerate() {
            let style = colour(i).stroke_width(2);
            let points: Vec<(f64, f64)> = s.points.iter().copied().filter(finite).collect();
            chart
                .draw_series(LineSeries::new(points.iter().copied(), style))
                .map_err(plot_error)?
                .label(s.name.as_str())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
            if points.len() == 1 {
                chart
                    .draw_series(points.iter().map(|p| Circle::new(*p, 3, style.filled())))
                    .map_err(plot_error)?;
            }
        }
        if !series.is_empty() {
            legend(&mut chart)?;
        }
        Ok(())
    })
}

/// Bars for `values[0..n]` at x = 0..n; bars at or above `threshold` are coloured, the others
/// grey, and the threshold is drawn as a dashed line.
pub fn bar_plot(
    path: &Path,
    labels: Labels,
    values: &[f64],
    threshold: Option<f64>,
) -> Result<(), VizError> {
    let xs = -0.6..values.len().max(1) as f64 - 0.4;
    let ys = padded_range(values.iter().copied().chain([0.0]).chain(threshold));
    render(path, WIDE, |root| {
        let mut chart = chart(root, labels.title, xs.clone(), ys)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_desc(labels.x)
            .y_desc(labels.y)
            .label_style((FONT, 13))
            .x_labels((values.len() + 1).min(25))
            .x_label_formatter(&|x| {
                // Only whole positions name a bar.
                if (x - x.round()).abs() < 1e-6 && *x >= 0.0 {
                    format!("{}", x.round() as i64)
                } else {
                    String::new()
                }
            })
            .draw()
            .map_err(plot_error)?;
        let bars = values.iter().enumerate().filter(|(_, v)| v.is_finite());
        chart
            .draw_series(bars.map(|(i, v)| {
                let on = threshold.is_none_or(|t| *v >= t);
                let fill = if on {
                    colour(0)
                } else {
                    RGBColor(170, 170, 170)
                };
                Rectangle::new([(i as f64 - 0.4, 0.0), (i as f64 + 0.4, *v)], fill.filled())
            }))
            .map_err(plot_error)?;
        if let Some(t) = threshold {
            chart
                .draw_series(DashedLineSeries::new(
                    [(xs.start, t), (xs.end, t)],
                    6,
                    4,
                    colour(3).stroke_width(1),
                ))
                .map_err(plot_error)?;
        }
        Ok(())
    })
}

fn check_classes(points: &[(f64, f64)], classes: &[usize]) -> Result<(), VizError> {
    if points.len() != classes.len() {
        return Err(VizError::InvalidInput(format!(
            "{} points but {} class labels",
            points.len(),
            classes.len()
        )));
    }
    Ok(())
}

/// Points coloured by class, with a legend naming each class that occurs (`names[c]`, or the
/// class number where `names` has no entry).
pub fn scatter_plot(
    path: &Path,
    labels: Labels,
    points: &[(f64, f64)],
    classes: &[usize],
    names: &[String],
) -> Result<(), VizError> {
    check_classes(points, classes)?;
    let xs = padded_range(points.iter().map(|p| p.0));
    let ys = padded_range(points.iter().map(|p| p.1));
    render(path, SQUARE, |root| {
        let mut chart = chart(root, labels.title, xs, ys)?;
        light_grid(&mut chart, labels)?;
        draw_classes(&mut chart, points, classes, names, 2)
    })
}

type Chart<'a, 'b> = ChartContext<
    'a,
    BitMapBackend<'b>,
    Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
>;

/// Axes with their descriptions over a light grid.
fn light_grid(chart: &mut Chart, labels: Labels) -> Result<(), VizError> {
    chart
        .configure_mesh()
        .x_desc(labels.x)
        .y_desc(labels.y)
        .label_style((FONT, 13))
        .light_line_style(RGBColor(235, 235, 235))
        .draw()
        .map_err(plot_error)
}

/// The series' legend, boxed, in the upper right corner.
fn legend<'a, 'b: 'a>(chart: &mut Chart<'a, 'b>) -> Result<(), VizError> {
    chart
        .configure_series_labels()
        .label_font((FONT, 13))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperRight)
        .draw()
        .map_err(plot_error)
}

/// A white canvas with the title and room for the axes' labels, over `xs` × `ys`.
fn chart<'a, 'b>(
    root: &'a Area<'b>,
    title: &str,
    xs: Range<f64>,
    ys: Range<f64>,
) -> Result<Chart<'a, 'b>, VizError> {
    root.fill(&WHITE).map_err(plot_error)?;
    ChartBuilder::on(root)
        .caption(title, (FONT, 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(xs, ys)
        .map_err(plot_error)
}

fn draw_classes<'a, 'b: 'a>(
    chart: &mut Chart<'a, 'b>,
    points: &[(f64, f64)],
    classes: &[usize],
    names: &[String],
    radius: u32,
) -> Result<(), VizError> {
    let mut present: Vec<usize> = classes.to_vec();
    present.sort_unstable();
    present.dedup();
    for class in present.iter().copied() {
        let style = colour(class).mix(0.6).filled();
        let members = points
            .iter()
            .zip(classes)
            .filter(|(p, c)| **c == class && finite(p))
            .map(|(p, _)| Circle::new(*p, radius, style));
        let name = names
            .get(class)
            .cloned()
            .unwrap_or_else(|| class.to_string());
        chart
            .draw_series(members)
            .map_err(plot_error)?
            .label(name)
            .legend(move |(x, y)| Circle::new((x + 8, y), 4, colour(class).filled()));
    }
    if !present.is_empty() {
        legend(chart)?;
    }
    Ok(())
}

/// A 2-D Gaussian component to outline: its mean, covariance and class (for the colour).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ellipse {
    /// The mean (x, y), marked with a cross by [`density_plot`].
    pub centre: (f64, f64),
    /// The covariance Σ, `[[σxx, σxy], [σyx, σyy]]`; the off-diagonal entries are averaged.
    pub covariance: [[f64; 2]; 2],
    /// The class whose colour, `PALETTE[class % 10]`, draws the outline.
    pub class: usize,
}

impl Ellipse {
    /// `n` points on the contour at `k` standard deviations: {centre + k Σ^{1/2} u : |u| = 1}.
    /// A covariance that is not symmetric positive semi-definite gives an empty outline.
    pub fn outline(&self, k: f64, n: usize) -> Vec<(f64, f64)> {
        let [[a, b], [c, d]] = self.covariance;
        let b = 0.5 * (b + c);
        let half_gap = ((a - d) * (a - d) / 4.0 + b * b).sqrt();
        let (l1, l2) = ((a + d) / 2.0 + half_gap, (a + d) / 2.0 - half_gap);
        if !(l1.is_finite() && l2 >= -1e-12 * l1.abs().max(1e-300)) {
            return Vec::new();
        }
        let theta = 0.5 * (2.0 * b).atan2(a - d);
        let (r1, r2) = (k * l1.sqrt(), k * l2.max(0.0).sqrt());
        let (s, co) = theta.sin_cos();
        (0..=n)
            .map(|i| {
                let t = std::f64::consts::TAU * i as f64 / n as f64;
                let (u, v) = (r1 * t.cos(), r2 * t.sin());
                (
                    self.centre.0 + co * u - s * v,
                    self.centre.1 + s * u + co * v,
                )
            })
            .collect()
    }
}

/// A density picture: `log_density` as a shaded background with contour lines, the points
/// coloured by class, and each ellipse drawn at 1σ (solid) and 2σ (dashed).
pub fn density_plot(
    path: &Path,
    labels: Labels,
    points: &[(f64, f64)],
    classes: &[usize],
    ellipses: &[Ellipse],
    log_density: &dyn Fn(f64, f64) -> f64,
) -> Result<(), VizError> {
    check_classes(points, classes)?;
    let rims: Vec<(f64, f64)> = ellipses.iter().flat_map(|e| e.outline(2.0, 32)).collect();
    let xs = padded_range(points.iter().chain(&rims).map(|p| p.0));
    let ys = padded_range(points.iter().chain(&rims).map(|p| p.1));
    const CELLS: usize = 120;
    let grid = LogDensityGrid::new(xs.clone(), ys.clone(), CELLS, log_density);
    let names: Vec<String> = (0..PALETTE.len())
        .map(|c| format!("component {c}"))
        .collect();
    render(path, SQUARE, |root| {
        let mut chart = chart(root, labels.title, xs.clone(), ys.clone())?;
        chart
            .configure_mesh()
            .disable_mesh()
            .x_desc(labels.x)
            .y_desc(labels.y)
            .label_style((FONT, 13))
            .draw()
            .map_err(plot_error)?;
        let levels = grid.levels(8);
        if let (Some(top), Some(bottom)) = (levels.first(), levels.last()) {
            let (top, bottom) = (*top, *bottom);
            chart
                .draw_series(grid.cells().filter_map(|(rect, v)| {
                    let shade = ((v - bottom) / (top - bottom)).clamp(0.0, 1.0);
                    (shade > 0.0).then(|| {
                        let level = |white: f64, full: f64| (white + (full - white) * shade) as u8;
                        let fill = RGBColor(level(255.0, 200.0), level(255.0, 215.0), 255);
                        Rectangle::new(rect, fill.filled())
                    })
                }))
                .map_err(plot_error)?;
            for level in &levels {
                let style = RGBColor(90, 110, 160).stroke_width(1);
                chart
                    .draw_series(
                        grid.contour(*level)
                            .into_iter()
                            .map(|segment| PathElement::new(segment.to_vec(), style)),
                    )
                    .map_err(plot_error)?;
            }
        }
        draw_classes(&mut chart, points, classes, &names, 2)?;
        for e in ellipses {
            let style = colour(e.class).stroke_width(2);
            chart
                .draw_series([PathElement::new(e.outline(1.0, 96), style)])
                .map_err(plot_error)?;
            chart
                .draw_series(DashedLineSeries::new(e.outline(2.0, 96), 8, 5, style))
                .map_err(plot_error)?;
            chart
                .draw_series([Cross::new(e.centre, 6, BLACK.stroke_width(2))])
                .map_err(plot_error)?;
        }
        Ok(())
    })
}

/// A function sampled at the corners of a regular grid of cells.
struct LogDensityGrid {
    xs: Vec<f64>,
    ys: Vec<f64>,
    /// values[j][i] at (xs[i], ys[j]).
    values: Vec<Vec<f64>>,
}

impl LogDensityGrid {
    fn new(x: Range<f64>, y: Range<f64>, cells: usize, f: &dyn Fn(f64, f64) -> f64) -> Self {
        let axis = |r: &Range<f64>| -> Vec<f64> {
            (0..=cells)
                .map(|i| r.start + (r.end - r.start) * i as f64 / cells as f64)
                .collect()
        };
        let (xs, ys) = (axis(&x), axis(&y));
        let values = ys
            .iter()
            .map(|y| xs.iter().map(|x| f(*x, *y)).collect())
            .collect();
        Self { xs, ys, values }
    }

    /// `n` contour levels, from a quarter nat below the maximum down to 10 nats below it
    /// (a density e⁻¹⁰ of its peak), evenly spaced; empty when no value is finite.
    fn levels(&self, n: usize) -> Vec<f64> {
        let top = self
            .values
            .iter()
            .flatten()
            .copied()
            .filter(|v| v.is_finite())
            .fold(f64::NEG_INFINITY, f64::max);
        if !top.is_finite() {
            return Vec::new();
        }
        (0..n)
            .map(|i| top - 0.25 - (10.0 - 0.25) * i as f64 / (n - 1).max(1) as f64)
            .collect()
    }

    /// Each cell as a rectangle with the mean of its corners' values.
    fn cells(&self) -> impl Iterator<Item = ([(f64, f64); 2], f64)> + '_ {
        (0..self.ys.len() - 1).flat_map(move |j| {
            (0..self.xs.len() - 1).map(move |i| {
                let v = self.values[j][i]
                    + self.values[j][i + 1]
                    + self.values[j + 1][i]
                    + self.values[j + 1][i + 1];
                (
                    [(self.xs[i], self.ys[j]), (self.xs[i + 1], self.ys[j + 1])],
                    v / 4.0,
                )
            })
        })
    }

    /// Line segments of the contour {f = level} by marching squares (crossings interpolated
    /// linearly along cell edges; a saddle cell gets two segments).
    fn contour(&self, level: f64) -> Vec<[(f64, f64); 2]> {
        let mut segments = Vec::new();
        for j in 0..self.ys.len() - 1 {
            for i in 0..self.xs.len() - 1 {
                let corners = [
                    (self.xs[i], self.ys[j], self.values[j][i]),
                    (self.xs[i + 1], self.ys[j], self.values[j][i + 1]),
                    (self.xs[i + 1], self.ys[j + 1], self.values[j + 1][i + 1]),
                    (self.xs[i], self.ys[j + 1], self.values[j + 1][i]),
                ];
                if corners.iter().any(|c| !c.2.is_finite()) {
                    continue;
                }
                let crossings: Vec<(f64, f64)> = (0..4)
                    .filter_map(|e| {
                        let (a, b) = (corners[e], corners[(e + 1) % 4]);
                        ((a.2 >= level) != (b.2 >= level)).then(|| {
                            let t = (level - a.2) / (b.2 - a.2);
                            (a.0 + t * (b.0 - a.0), a.1 + t * (b.1 - a.1))
                        })
                    })
                    .collect();
                for pair in crossings.chunks_exact(2) {
                    segments.push([pair[0], pair[1]]);
                }
            }
        }
        segments
    }
}

/// Writes a grid of grey or colour images (as [`crate::Grid::render`] lays them out) with a text
/// label at the left of each row.
pub fn labelled_grid(
    path: &Path,
    grid: &crate::Grid,
    images: &[f32],
    row_labels: &[String],
) -> Result<(), VizError> {
    let (w, h, pixels) = grid.render(images)?;
    let rgb = if grid.channels == 3 {
        pixels
    } else {
        grey_to_rgb(&pixels)
    };
    let margin = 8 + row_labels
        .iter()
        .map(|l| 8 * l.chars().count())
        .max()
        .unwrap_or(0);
    let size = ((w + margin) as u32, h as u32);
    let row_height = grid.cell().1 + grid.padding;
    render(path, size, |root| {
        root.fill(&WHITE).map_err(plot_error)?;
        let picture = BitMapElement::<(i32, i32)>::with_owned_buffer(
            (margin as i32, 0),
            (w as u32, h as u32),
            rgb,
        )
        .ok_or_else(|| plot_error("the image grid does not fit its buffer"))?;
        root.draw(&picture).map_err(plot_error)?;
        for (row, label) in row_labels.iter().enumerate() {
            let y = (grid.padding + row * row_height + grid.cell().1 / 2) as i32 - 7;
            root.draw_text(label, &(FONT, 14).into_text_style(root), (4, y))
                .map_err(plot_error)?;
        }
        Ok(())
    })
}

fn grey_to_rgb(grey: &[u8]) -> Vec<u8> {
    grey.iter().flat_map(|g| [*g, *g, *g]).collect()
}

/// Side of one panel of a [`pairs_plot`], in pixels, while the panels fit in [`PAIRS_MAX_SIDE`].
pub const PAIRS_PANEL: u32 = 300;
/// Largest side of the panels of a [`pairs_plot`] together, in pixels: beyond it panels shrink,
/// down to [`PAIRS_MIN_PANEL`].
pub const PAIRS_MAX_SIDE: u32 = 2400;
/// Smallest side of one panel of a [`pairs_plot`], in pixels.
pub const PAIRS_MIN_PANEL: u32 = 120;

/// Height of the pairs plot's title line, and of each line of its legend.
const PAIRS_TITLE: u32 = 36;
const PAIRS_LEGEND_LINE: u32 = 20;

/// The legend's entries laid out left to right in lines no wider than `width`: for each entry,
/// its line and x offset. An entry is a 24 px marker and about 8 px per character.
fn legend_layout(names: &[&str], width: u32) -> Vec<(u32, u32)> {
    let (mut line, mut x) = (0, 8);
    names
        .iter()
        .map(|name| {
            let entry = 24 + 8 * name.chars().count() as u32 + 16;
            if x > 8 && x + entry > width {
                (line, x) = (line + 1, 8);
            }
            let at = (line, x);
            x += entry;
            at
        })
        .collect()
}

/// A scatterplot matrix of vector data: for the first `shown` dimensions, one panel per pair
/// (i, j) with i < j, x_i across and x_j up (axes labelled `x1`, `x2`, … counting from 1), laid out
/// as the lower triangle of a (`shown` − 1) × (`shown` − 1) grid (row j − 1, column i, 0-based).
///
/// `sets` are named point sets, each `dim` values per point, point after point; set k is drawn
/// in `PALETTE[k % 10]` (points slightly transparent), and a legend under the title names them.
/// Every panel of a row shares the y range and every panel of a column the x range.
///
/// The picture is `p·(shown − 1)` pixels wide and that plus a header (36 px of title and 20 px
/// per line of legend) high, where the panel side `p` is [`PAIRS_PANEL`] while the panels fit in
/// [`PAIRS_MAX_SIDE`], and smaller beyond (never below [`PAIRS_MIN_PANEL`]).
///
/// Errors with [`VizError::InvalidInput`] when there are no sets, `shown` is not in 2..=`dim`, a
/// set is empty or its length not a multiple of `dim`, or a value is not finite.
pub fn pairs_plot(
    path: &Path,
    title: &str,
    sets: &[(&str, &[f64])],
    dim: usize,
    shown: usize,
) -> Result<(), VizError> {
    let invalid = |message: String| Err(VizError::InvalidInput(message));
    if sets.is_empty() {
        return invalid("a pairs plot needs at least one set of points".into());
    }
    if shown < 2 || shown > dim {
        return invalid(format!(
            "cannot show {shown} of {dim} dimensions in a pairs plot (need 2 ≤ shown ≤ dim)"
        ));
    }
    for (name, values) in sets {
        if values.is_empty() {
            return invalid(format!("the set {name:?} has no points"));
        }
        if !values.len().is_multiple_of(dim) {
            return invalid(format!(
                "the set {name:?} has {} values, not a whole number of {dim}-dimensional points",
                values.len()
            ));
        }
        if let Some(at) = values.iter().position(|v| !v.is_finite()) {
            return invalid(format!(
                "the set {name:?} has a non-finite value, {}, at index {at}",
                values[at]
            ));
        }
    }
    let ranges: Vec<Range<f64>> = (0..shown)
        .map(|d| {
            padded_range(
                sets.iter()
                    .flat_map(|(_, values)| values.iter().skip(d).step_by(dim).copied()),
            )
        })
        .collect();
    let cells = shown - 1;
    let panel = (PAIRS_MAX_SIDE / cells as u32).clamp(PAIRS_MIN_PANEL, PAIRS_PANEL);
    let side = panel * cells as u32;
    let names: Vec<&str> = sets.iter().map(|(name, _)| *name).collect();
    let places = legend_layout(&names, side);
    let lines = places.last().map_or(0, |(line, _)| line + 1);
    let header = PAIRS_TITLE + PAIRS_LEGEND_LINE * lines;
    let small = panel < 200;
    render(path, (side, side + header), |root| {
        root.fill(&WHITE).map_err(plot_error)?;
        let (top, body) = root.split_vertically(header);
        let centred = (FONT, 20)
            .into_text_style(&top)
            .pos(plotters::style::text_anchor::Pos::new(
                plotters::style::text_anchor::HPos::Center,
                plotters::style::text_anchor::VPos::Center,
            ));
        top.draw_text(
            title,
            &centred,
            ((side / 2) as i32, (PAIRS_TITLE / 2) as i32),
        )
        .map_err(plot_error)?;
        for (k, (name, (line, x))) in names.iter().zip(&places).enumerate() {
            let y = (PAIRS_TITLE + line * PAIRS_LEGEND_LINE + PAIRS_LEGEND_LINE / 2) as i32;
            let x = *x as i32;
            top.draw(&Circle::new((x + 8, y), 5, colour(k).filled()))
                .map_err(plot_error)?;
            top.draw_text(name, &(FONT, 14).into_text_style(&top), (x + 24, y - 8))
                .map_err(plot_error)?;
        }
        let panels = body.split_evenly((cells, cells));
        for j in 1..shown {
            for i in 0..j {
                let area = &panels[(j - 1) * cells + i];
                let mut chart = ChartBuilder::on(area)
                    .margin(if small { 4 } else { 8 })
                    .x_label_area_size(if small { 28 } else { 36 })
                    .y_label_area_size(if small { 36 } else { 48 })
                    .build_cartesian_2d(ranges[i].clone(), ranges[j].clone())
                    .map_err(plot_error)?;
                chart
                    .configure_mesh()
                    .x_desc(format!("x{}", i + 1))
                    .y_desc(format!("x{}", j + 1))
                    .x_labels(if small { 3 } else { 5 })
                    .y_labels(if small { 3 } else { 5 })
                    .label_style((FONT, if small { 10 } else { 12 }))
                    .light_line_style(RGBColor(235, 235, 235))
                    .draw()
                    .map_err(plot_error)?;
                for (k, (_, values)) in sets.iter().enumerate() {
                    let style = colour(k).mix(0.6).filled();
                    chart
                        .draw_series(
                            values
                                .chunks_exact(dim)
                                .map(|point| Circle::new((point[i], point[j]), 2, style)),
                        )
                        .map_err(plot_error)?;
                }
            }
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_pad_and_survive_empty_constant_and_non_finite_input() {
        assert_eq!(padded_range([]), 0.0..1.0);
        assert_eq!(padded_range([f64::NAN, f64::INFINITY]), 0.0..1.0);
        assert_eq!(padded_range([3.0, 3.0]), 2.5..3.5);
        assert_eq!(padded_range([100.0]), 95.0..105.0);
        let r = padded_range([0.0, 10.0, f64::NAN]);
        assert!((r.start + 0.5).abs() < 1e-12 && (r.end - 10.5).abs() < 1e-12);
    }

    #[test]
    fn ellipse_outlines_lie_on_the_mahalanobis_contour() {
        // Σ = R diag(4, 1) Rᵀ with R a 30° rotation: every outline point has (x−μ)ᵀΣ⁻¹(x−μ) = k².
        let (s, c) = 30f64.to_radians().sin_cos();
        let (l1, l2) = (4.0, 1.0);
        let cov = [
            [c * c * l1 + s * s * l2, c * s * (l1 - l2)],
            [c * s * (l1 - l2), s * s * l1 + c * c * l2],
        ];
        let e = Ellipse {
            centre: (1.0, -2.0),
            covariance: cov,
            class: 0,
        };
        let det = cov[0][0] * cov[1][1] - cov[0][1] * cov[1][0];
        for k in [1.0, 2.0] {
            let outline = e.outline(k, 50);
            assert_eq!(outline.len(), 51);
            for (x, y) in outline {
                let (dx, dy) = (x - 1.0, y + 2.0);
                let m =
                    (cov[1][1] * dx * dx - 2.0 * cov[0][1] * dx * dy + cov[0][0] * dy * dy) / det;
                assert!((m - k * k).abs() < 1e-9, "{m} vs {}", k * k);
            }
        }
        let bad = Ellipse {
            covariance: [[1.0, 0.0], [0.0, -1.0]],
            ..e
        };
        assert!(bad.outline(1.0, 10).is_empty());
    }

    #[test]
    fn contours_of_a_bowl_are_circles() {
        // f = −(x² + y²): the contour at −1 is the unit circle.
        let grid = LogDensityGrid::new(-2.0..2.0, -2.0..2.0, 80, &|x, y| -(x * x + y * y));
        let segments = grid.contour(-1.0);
        assert!(segments.len() > 40);
        for p in segments.iter().flatten() {
            let r = (p.0 * p.0 + p.1 * p.1).sqrt();
            assert!((r - 1.0).abs() < 2e-3, "{r}");
        }
        let levels = grid.levels(8);
        assert_eq!(levels.len(), 8);
        assert!(levels.windows(2).all(|w| w[0] > w[1]));
        // Nothing finite: no levels, and no panic.
        let flat = LogDensityGrid::new(0.0..1.0, 0.0..1.0, 4, &|_, _| f64::NEG_INFINITY);
        assert!(flat.levels(8).is_empty());
    }
}
