//! Every plot on small synthetic inputs: the file is a PNG of the stated size, something of the
//! expected colour was drawn, and empty, constant or non-finite data do not break it.

use std::path::{Path, PathBuf};

use latent_viz::plot::{
    bar_plot, density_plot, labelled_grid, line_plot, pairs_plot, scatter_plot, Ellipse, Labels,
    Series, PAIRS_PANEL, PALETTE, SQUARE, WIDE,
};
use latent_viz::{Grid, VizError};

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("latent-viz-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// (width, height, RGB pixels) of a PNG written by the crate.
fn read_rgb(path: &Path) -> (u32, u32, Vec<u8>) {
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(path).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!(info.color_type, png::ColorType::Rgb);
    buf.truncate(info.buffer_size());
    (info.width, info.height, buf)
}

/// How many pixels have exactly the colour `rgb`.
fn count(pixels: &[u8], rgb: (u8, u8, u8)) -> usize {
    pixels
        .chunks(3)
        .filter(|p| (p[0], p[1], p[2]) == rgb)
        .count()
}

const LABELS: Labels = Labels {
    title: "title",
    x: "x",
    y: "y",
};

#[test]
fn line_plots_draw_each_series_in_its_colour() {
    let dir = scratch("line");
    let path = dir.join("line.png");
    let curve: Vec<(f64, f64)> = (0..50)
        .map(|i| (i as f64, (i as f64 / 5.0).sin()))
        .collect();
    let other: Vec<(f64, f64)> = curve.iter().map(|(x, y)| (*x, -y)).collect();
    line_plot(
        &path,
        LABELS,
        &[Series::new("sin", curve), Series::new("−sin", other)],
    )
    .unwrap();
    let (w, h, pixels) = read_rgb(&path);
    assert_eq!((w, h), WIDE);
    assert!(count(&pixels, PALETTE[0]) > 100 && count(&pixels, PALETTE[1]) > 100);
    // Empty, single-point, constant and non-finite series still give a picture.
    for series in [
        vec![],
        vec![Series::new("one", vec![(1.0, 2.0)])],
        vec![Series::new("flat", vec![(0.0, 3.0), (1.0, 3.0)])],
        vec![Series::new(
            "nan",
            vec![(0.0, f64::NAN), (f64::INFINITY, 1.0)],
        )],
    ] {
        line_plot(&path, LABELS, &series).unwrap();
        assert_eq!(read_rgb(&path).0, WIDE.0);
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn scatter_and_bar_plots_colour_by_class_and_threshold() {
    let dir = scratch("scatter");
    let path = dir.join("scatter.png");
    let points: Vec<(f64, f64)> = (0..200)
        .map(|i| ((i % 20) as f64, (i / 20) as f64))
        .collect();
    let classes: Vec<usize> = (0..200).map(|i| i % 3).collect();
    scatter_plot(&path, LABELS, &points, &classes, &[]).unwrap();
    let (w, h, _) = read_rgb(&path);
    assert_eq!((w, h), SQUARE);
    assert!(scatter_plot(&path, LABELS, &points, &classes[..10], &[]).is_err());
    scatter_plot(&path, LABELS, &[], &[], &[]).unwrap();
    scatter_plot(&path, LABELS, &[(1.0, 1.0); 5], &[0; 5], &[]).unwrap();

    let bars = dir.join("bars.png");
    bar_plot(&bars, LABELS, &[2.0, 0.001, 1.0, f64::NAN], Some(0.01)).unwrap();
    let (w, h, pixels) = read_rgb(&bars);
    assert_eq!((w, h), WIDE);
    assert!(
        count(&pixels, PALETTE[0]) > 1000,
        "active bars are coloured"
    );
    assert!(
        count(&pixels, (170, 170, 170)) > 0,
        "the collapsed bar is grey"
    );
    bar_plot(&bars, LABELS, &[], None).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn density_plots_and_labelled_grids() {
    let dir = scratch("density");
    let path = dir.join("density.png");
    let ellipse = Ellipse {
        centre: (0.0, 0.0),
        covariance: [[1.0, 0.5], [0.5, 2.0]],
        class: 1,
    };
    let points = [(0.1, 0.2), (-1.0, 1.0), (0.5, -0.5)];
    let density = |x: f64, y: f64| -(x * x + y * y) / 2.0;
    density_plot(&path, LABELS, &points, &[1, 1, 1], &[ellipse], &density).unwrap();
    let (w, h, pixels) = read_rgb(&path);
    assert_eq!((w, h), SQUARE);
    assert!(count(&pixels, PALETTE[1]) > 200, "the ellipses are drawn");
    // No points, and a density that is −∞ everywhere.
    density_plot(&path, LABELS, &[], &[], &[], &|_, _| f64::NEG_INFINITY).unwrap();

    let grid_path = dir.join("grid.png");
    let images = vec![0.5f32; 4 * 28 * 28];
    let rows = ["originals".to_string(), "reconstructed".to_string()];
    labelled_grid(&grid_path, &Grid::mnist(2), &images, &rows).unwrap();
    let (w, h, pixels) = read_rgb(&grid_path);
    let plain = Grid::mnist(2).render(&images).unwrap();
    assert_eq!(h as usize, plain.1);
    assert!(w as usize > plain.0 + 8 * "reconstructed".len());
    assert!(count(&pixels, (128, 128, 128)) >= 4 * 28 * 28);
    assert!(labelled_grid(&grid_path, &Grid::mnist(2), &[0.0; 5], &rows).is_err());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn labelled_colour_grids_keep_their_colours() {
    let dir = scratch("colour-grid");
    let path = dir.join("grid.png");
    // Four 3 × 3 images, planar RGB: two pure red, two pure blue.
    let red = [vec![1.0f32; 9], vec![0.0; 9], vec![0.0; 9]].concat();
    let blue = [vec![0.0f32; 9], vec![0.0; 9], vec![1.0; 9]].concat();
    let images = [red.clone(), red, blue.clone(), blue].concat();
    let grid = Grid {
        scale: 1,
        ..Grid::new(2, 3, 3, 3)
    };
    let rows = ["red".to_string(), "blue".to_string()];
    labelled_grid(&path, &grid, &images, &rows).unwrap();
    let (w, h, pixels) = read_rgb(&path);
    let plain = grid.render(&images).unwrap();
    assert_eq!(h as usize, plain.1);
    assert!(w as usize > plain.0 + 8 * "blue".len());
    assert_eq!(count(&pixels, (255, 0, 0)), 2 * 9);
    assert_eq!(count(&pixels, (0, 0, 255)), 2 * 9);
    let bad = Grid {
        channels: 2,
        ..grid
    };
    assert!(matches!(
        labelled_grid(&path, &bad, &images, &rows),
        Err(VizError::InvalidGrid(_))
    ));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// How many pixels are within 3 levels per channel of `rgb` drawn at opacity 0.6 on white, as
/// pairs plots draw their points.
fn count_points(pixels: &[u8], rgb: (u8, u8, u8)) -> usize {
    let on_white = |c: u8| 0.6 * c as f64 + 0.4 * 255.0;
    let want = [on_white(rgb.0), on_white(rgb.1), on_white(rgb.2)];
    pixels
        .chunks(3)
        .filter(|p| {
            p.iter()
                .zip(want)
                .all(|(p, w)| (*p as f64 - w).abs() <= 3.0)
        })
        .count()
}

#[test]
fn pairs_plots_draw_one_panel_per_pair_and_each_set_in_its_colour() {
    let dir = scratch("pairs");
    let path = dir.join("pairs.png");
    // Two 4-dimensional sets on different grids of points, so their dots rarely overlap.
    let real: Vec<f64> = (0..60)
        .flat_map(|i| {
            let t = i as f64;
            [t % 10.0, (t / 10.0).floor(), (t * 0.37).sin(), -t]
        })
        .collect();
    let model: Vec<f64> = (0..40)
        .flat_map(|i| {
            let t = i as f64;
            [
                t % 8.0 + 0.5,
                (t / 8.0).floor() + 0.5,
                (t * 0.61).cos(),
                0.5 - t,
            ]
        })
        .collect();
    let sets: [(&str, &[f64]); 2] = [("real", &real), ("model", &model)];
    // The header is a 36 px title line and one 20 px legend line.
    for (shown, side) in [(2, PAIRS_PANEL), (4, 3 * PAIRS_PANEL)] {
        pairs_plot(&path, "real vs model", &sets, 4, shown).unwrap();
        let (w, h, pixels) = read_rgb(&path);
        assert_eq!((w, h), (side, side + 36 + 20), "shown = {shown}");
        for (k, rgb) in PALETTE.iter().take(2).enumerate() {
            assert!(count(&pixels, *rgb) > 0, "set {k}'s legend marker");
            let dots = count_points(&pixels, *rgb);
            assert!(dots > 100 * (shown - 1), "set {k}: {dots} point pixels");
        }
        assert_eq!(count(&pixels, PALETTE[2]), 0, "a third colour for two sets");
    }
    // Two dimensions give one panel; many dimensions keep the picture within bounds.
    pairs_plot(&path, "2-D", &[("real", &real[..8])], 2, 2).unwrap();
    assert_eq!(read_rgb(&path).0, PAIRS_PANEL);
    let wide: Vec<f64> = (0..30 * 5).map(|i| (i as f64 * 0.7).sin()).collect();
    pairs_plot(&path, "30-D", &[("a", &wide)], 30, 30).unwrap();
    let (w, _, _) = read_rgb(&path);
    assert!((2400..=29 * 120).contains(&w), "{w}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn pairs_plots_refuse_bad_input() {
    let dir = scratch("pairs-errors");
    let path = dir.join("pairs.png");
    let points = [0.0, 1.0, 2.0, 3.0, 4.0, 5.0];
    let refused = |sets: &[(&str, &[f64])], dim: usize, shown: usize| {
        let result = pairs_plot(&path, "bad", sets, dim, shown);
        assert!(
            matches!(result, Err(VizError::InvalidInput(_))),
            "dim {dim}, shown {shown}: {result:?}"
        );
    };
    refused(&[], 3, 2); // no sets
    refused(&[("a", &points[..5])], 3, 2); // 5 values are not whole 3-D points
    refused(&[("a", &points), ("b", &points[..4])], 3, 2); // nor are 4
    refused(&[("a", &points), ("empty", &[])], 3, 2);
    refused(&[("a", &points)], 3, 1); // shown too small
    refused(&[("a", &points)], 3, 4); // shown above dim
    refused(&[("a", &points)], 1, 1);
    refused(&[("a", &points)], 0, 2);
    for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        let mut with_bad = points;
        with_bad[4] = bad;
        refused(&[("a", &points), ("b", &with_bad)], 3, 2);
    }
    assert!(!path.exists(), "nothing is written for bad input");
    pairs_plot(&path, "fine", &[("a", &points)], 3, 3).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}
