//! The picture of a Gaussian mixture with data: points coloured by most probable component,
//! each component's 1σ and 2σ ellipse, and the model's log-density as shading and contours —
//! on the data's own plane in 2-D, on their first two principal axes otherwise (with the
//! mixture's exact marginal density on that plane).

use std::path::Path;

use burn::tensor::Tensor;
use latent_models::Gmm;
use latent_viz::pca::PrincipalPlane;
use latent_viz::plot::{density_plot, Ellipse, Labels};

use crate::error::{invalid, Result};
use crate::readback::values_f64;

/// The plane a mixture plot is drawn on: the coordinate plane for 2-D data, otherwise the
/// data's (`[n, d]` values, row after row) first two principal axes.
pub fn plot_plane(data: &[f64], d: usize) -> Result<PrincipalPlane> {
    if d == 2 {
        return Ok(PrincipalPlane {
            mean: vec![0.0, 0.0],
            axes: [vec![1.0, 0.0], vec![0.0, 1.0]],
            variances: [f64::NAN, f64::NAN],
        });
    }
    Ok(PrincipalPlane::fit(data, d)?)
}

/// The mixture's components seen on `plane`: the mixture's marginal there is the mixture of
/// the projected Gaussians N(Pμ_k, PΣ_kPᵀ).
pub fn projected_components(gmm: &Gmm, plane: &PrincipalPlane) -> Vec<Ellipse> {
    (0..gmm.n_components())
        .map(|k| Ellipse {
            centre: plane.project(&gmm.means[k]),
            covariance: plane.project_covariance(&gmm.covariance_matrix(k)),
            class: k,
        })
        .collect()
}

/// log Σ_k α_k N((u, v); c_k, S_k), in f64, by log-sum-exp.
pub fn plane_log_density(weights: &[f64], components: &[Ellipse], (u, v): (f64, f64)) -> f64 {
    let terms: Vec<f64> = weights
        .iter()
        .zip(components)
        .map(|(w, e)| {
            let [[a, b], [_, c]] = e.covariance;
            let det = a * c - b * b;
            let (du, dv) = (u - e.centre.0, v - e.centre.1);
            let mahalanobis = (c * du * du - 2.0 * b * du * dv + a * dv * dv) / det;
            w.ln() - (std::f64::consts::TAU).ln() - 0.5 * det.ln() - 0.5 * mahalanobis
        })
        .collect();
    let top = terms.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if !top.is_finite() {
        return top;
    }
    top + terms.iter().map(|t| (t - top).exp()).sum::<f64>().ln()
}

/// Draws `gmm` with the points `x` (`[n, d]`, d the model's dimension) to the PNG `out`.
pub fn gmm_plot(gmm: &Gmm, x: &Tensor<2>, out: &Path) -> Result<()> {
    let [n, d] = x.dims();
    if d != gmm.dim() {
        return Err(invalid(
            "data",
            format!(
                "the model is {}-dimensional but the data have {d} columns",
                gmm.dim()
            ),
        ));
    }
    let labels = gmm.predict_labels(x)?;
    let data = values_f64(x.clone())?;
    let plane = plot_plane(&data, d)?;
    let points: Vec<(f64, f64)> = data.chunks(d).map(|row| plane.project(row)).collect();
    let components = projected_components(gmm, &plane);
    let (x_label, y_label) = if d == 2 {
        ("x₁", "x₂")
    } else {
        ("first principal axis", "second principal axis")
    };
    let title = format!(
        "{}-component GMM ({} covariances), {n} points",
        gmm.n_components(),
        gmm.covariance_type.name()
    );
    density_plot(
        out,
        Labels {
            title: &title,
            x: x_label,
            y: y_label,
        },
        &points,
        &labels,
        &components,
        &|u, v| plane_log_density(&gmm.weights, &components, (u, v)),
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Device;
    use latent_data::Points;
    use latent_models::GmmConfig;

    /// On 2-D data the plotted density is the model's own log p(x), computed independently
    /// (host f64 here, the tensor E-step in `score_samples`).
    #[test]
    #[allow(deprecated)]
    fn the_plotted_density_of_two_dimensional_data_is_the_models_own() {
        let device = Device::ndarray();
        let coords: Vec<f64> = (0..400)
            .flat_map(|i| {
                let t = i as f64;
                let shift = if i % 2 == 0 { 4.0 } else { -1.0 };
                [
                    shift + 1.5 * (t * 1.3).sin(),
                    0.5 * shift + (t * 0.7).cos() + 0.3 * (t * 2.9).sin(),
                ]
            })
            .collect();
        let x = Points::new(400, 2, coords.clone())
            .unwrap()
            .to_tensor(&device);
        let gmm = GmmConfig::new(2).fit(&x).unwrap();
        let plane = plot_plane(&coords, 2).unwrap();
        let components = projected_components(&gmm, &plane);
        let expected = values_f64(gmm.score_samples(&x).unwrap()).unwrap();
        for (row, want) in coords.chunks(2).zip(&expected).take(50) {
            let got = plane_log_density(&gmm.weights, &components, plane.project(row));
            assert!((got - *want).abs() < 1e-4, "{got} vs {want}");
        }
    }
}
