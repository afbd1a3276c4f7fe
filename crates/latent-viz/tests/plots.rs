//! Every plot on small synthetic inputs: the file is a PNG of the stated size, something of the
//! expected colour was drawn, and empty, constant or non-finite data do not break it.

use std::path::{Path, PathBuf};

use latent_viz::plot::{
    bar_plot, density_plot, labelled_grid, line_plot, scatter_plot, Ellipse, Labels, Series,
    PALETTE, SQUARE, WIDE,
};
use latent_viz::Grid;

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
