//! Adam with the parameters split into groups that step side by side.
//!
//! burn's Adam updates each parameter from its own gradient and state alone, so splitting the
//! parameters between several optimisers changes who computes an update, not what it is. With
//! CPU replicas the groups step in the replicas' threads, at once, instead of one after another
//! on the main thread (where the step was about a quarter of the time of a replicated epoch).
//! Each group's state is checkpointed in a file of its own: burn's `OptimizerRecord` can be
//! neither split nor merged from outside.

use std::any::Any;
use std::collections::HashMap;

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param, ParamId};
use burn::optim::{GradientsAccumulator, GradientsParams, ModuleOptimizer};
use burn::tensor::Tensor;
use latent_kernels::without_subnormals;

use crate::devices::Replica;
use crate::error::Result;
use crate::run_dir::RunDir;

/// Adam over groups of parameters (one group: burn's own optimiser, unchanged).
pub(crate) struct GroupedAdam {
    optims: Vec<ModuleOptimizer>,
    /// The group of each parameter.
    owner: HashMap<ParamId, usize>,
}

impl GroupedAdam {
    /// `groups` optimisers made by `optimizer`, the parameters of `model` dealt among them
    /// largest first (ties in the order the module lists them), each to the group with the
    /// fewest elements so far: the same groups for the same model in every process.
    pub(crate) fn new<M: Module>(
        optimizer: impl Fn() -> ModuleOptimizer,
        model: &M,
        groups: usize,
    ) -> Self {
        let groups = groups.max(1);
        let mut sizes = ParamSizes::default();
        model.visit(&mut sizes);
        let mut params = sizes.0;
        params.sort_by_key(|&(_, size)| std::cmp::Reverse(size));
        let mut totals = vec![0usize; groups];
        let owner = params
            .into_iter()
            .map(|(id, size)| {
                let group = (0..groups).min_by_key(|&g| totals[g]).unwrap_or(0);
                totals[group] += size;
                (id, group)
            })
            .collect();
        Self {
            optims: (0..groups).map(|_| optimizer()).collect(),
            owner,
        }
    }

    /// Every group's state, read from the checkpoints of `run`.
    pub(crate) fn load(mut self, run: &RunDir) -> Result<Self> {
        self.optims = std::mem::take(&mut self.optims)
            .into_iter()
            .enumerate()
            .map(|(g, optim)| Ok(optim.load_record(run.load_optimizer(g)?)))
            .collect::<Result<_>>()?;
        Ok(self)
    }

    /// Every group's state, written to the checkpoints of `run` (each through a temporary
    /// file and a rename).
    pub(crate) fn save(&self, run: &RunDir) -> Result<()> {
        for (g, optim) in self.optims.iter().enumerate() {
            run.save_optimizer(g, optim.to_record())?;
        }
        Ok(())
    }

    /// One Adam step of `model` with learning rate `lr` and the gradient `grads` summed (the
    /// devices' gradients of a step, added in their order; one for a single device). With
    /// several groups and at least as many `replicas` with thread pools of their own, group g
    /// adds its own parameters' gradients and steps in replica g's pool, all at once; otherwise
    /// the groups do so one after another here. Each optimiser steps with subnormals read and
    /// written as zeros on x86-64 ([`without_subnormals`]): burn's Adam too (on ndarray, say),
    /// whose moments would otherwise decay into that range and slow every later step down.
    pub(crate) fn step<M: Module>(
        &mut self,
        lr: f64,
        model: M,
        grads: Vec<GradientsParams>,
        replicas: &[Replica],
    ) -> M {
        let groups = self.optims.len();
        if groups == 1 {
            return step_group(&mut self.optims[0], lr, model, grads);
        }
        // parts[g]: each device's gradients of group g's parameters, in the devices' order.
        let mut parts: Vec<Vec<GradientsParams>> = (0..groups).map(|_| Vec::new()).collect();
        for mut source in grads {
            let mut split = SplitGradients {
                owner: &self.owner,
                source: &mut source,
                parts: (0..groups).map(|_| GradientsParams::new()).collect(),
            };
            model.visit(&mut split);
            for (part, grads) in parts.iter_mut().zip(split.parts) {
                part.push(grads);
            }
        }
        let in_parallel =
            replicas.len() >= groups && replicas[..groups].iter().all(Replica::has_pool);
        let models = self.dealt(model);
        let stepped: Vec<M> = if in_parallel {
            let jobs = self
                .optims
                .iter_mut()
                .zip(parts)
                .zip(models)
                .zip(replicas)
                .map(|(((optim, grads), model), replica)| {
                    (replica, move || step_group(optim, lr, model, grads))
                })
                .collect();
            crate::devices::side_by_side(jobs)
                .into_iter()
                .map(|done| done.unwrap_or_else(|p| std::panic::resume_unwind(p)))
                .collect()
        } else {
            self.optims
                .iter_mut()
                .zip(parts)
                .zip(models)
                .map(|((optim, grads), model)| step_group(optim, lr, model, grads))
                .collect()
        };
        // Group 0's result holds its own parameters updated and stand-ins for the others; each
        // other group's parameters come from that group's result.
        let mut stepped = stepped.into_iter();
        let mut merged = stepped.next().expect("at least one group");
        for (g, other) in stepped.enumerate() {
            let mut take = TakeGroup {
                owner: &self.owner,
                group: g + 1,
                values: HashMap::new(),
            };
            other.visit(&mut take);
            merged = merged.map(&mut PutValues(take.values));
        }
        merged
    }

    /// `model` as one model per group, model g holding group g's parameters and a one-element
    /// stand-in for every other parameter: once `model` itself is gone (on return), each
    /// parameter's tensor is held by one model alone, so that an optimiser reading it out and
    /// writing it back (burn-flex's `into_data` of a tensor held nowhere else, as
    /// [`crate::host_adam::HostAdam`] does) updates it in place instead of copying it first.
    fn dealt<M: Module>(&self, model: M) -> Vec<M> {
        (0..self.optims.len())
            .map(|group| {
                model.clone().map(&mut StandIns {
                    owner: &self.owner,
                    group,
                })
            })
            .collect()
    }
}

/// Keeps the parameters of one group and puts a one-element tensor of the same rank, device
/// and float type in place of every other.
struct StandIns<'a> {
    owner: &'a HashMap<ParamId, usize>,
    group: usize,
}

impl ModuleMapper for StandIns<'_> {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        if self.owner.get(&param.id) == Some(&self.group) {
            return param;
        }
        param.map(|value| {
            let (device, dtype) = (value.device(), value.dtype());
            Tensor::zeros([1; D], (&device, dtype))
        })
    }
}

/// One group's step: its devices' gradients summed (see [`summed`]), then `optim`'s step of
/// `model` with them, subnormals read and written as zeros on x86-64.
fn step_group<M: Module>(
    optim: &mut ModuleOptimizer,
    lr: f64,
    model: M,
    grads: Vec<GradientsParams>,
) -> M {
    let grads = summed(&model, grads);
    without_subnormals(|| optim.step(lr, model, grads))
}

/// The sum of `grads`, parameter by parameter, added in their order (burn's accumulator: the
/// first plus the second, plus the third …); one set of gradients as it is.
fn summed<M: Module>(model: &M, grads: Vec<GradientsParams>) -> GradientsParams {
    if grads.len() == 1 {
        return grads.into_iter().next().expect("one set of gradients");
    }
    let mut sum = GradientsAccumulator::<M>::new();
    for grads in grads {
        sum.accumulate(model, grads);
    }
    sum.grads()
}

/// Each float parameter's id and number of elements, in the module's order.
#[derive(Default)]
struct ParamSizes(Vec<(ParamId, usize)>);

impl ModuleVisitor for ParamSizes {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        self.0.push((param.id, param.shape().num_elements()));
    }
}

/// Moves each gradient of `source` into its parameter's group.
struct SplitGradients<'a> {
    owner: &'a HashMap<ParamId, usize>,
    source: &'a mut GradientsParams,
    parts: Vec<GradientsParams>,
}

impl ModuleVisitor for SplitGradients<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(grad) = self.source.remove::<D>(param.id) {
            let group = *self
                .owner
                .get(&param.id)
                .expect("the groups were made from this model's parameters");
            self.parts[group].register::<D>(param.id, grad);
        }
    }
}

/// The values of the parameters of one group.
struct TakeGroup<'a> {
    owner: &'a HashMap<ParamId, usize>,
    group: usize,
    values: HashMap<ParamId, Box<dyn Any + Send>>,
}

impl ModuleVisitor for TakeGroup<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if self.owner.get(&param.id) == Some(&self.group) {
            self.values.insert(param.id, Box::new(param.val()));
        }
    }
}

/// Replaces the parameters it holds values for.
struct PutValues(HashMap<ParamId, Box<dyn Any + Send>>);

impl ModuleMapper for PutValues {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        match self.0.remove(&param.id) {
            Some(value) => {
                let value = *value
                    .downcast::<Tensor<D>>()
                    .expect("a parameter keeps its rank");
                param.map(|_| value)
            }
            None => param,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use latent_models::VaeConfig;

    /// The default VAE's parameters dealt into two groups: every parameter in exactly one, and
    /// the two totals apart by less than the largest parameter (the greedy deal's bound).
    #[test]
    fn groups_cover_every_parameter_once_and_are_balanced() {
        #[allow(deprecated)]
        let device = burn::tensor::Device::ndarray();
        let vae = VaeConfig::default().init_vae(&device, 0).unwrap();
        let adam = GroupedAdam::new(|| burn::optim::AdamConfig::new().init(), &vae, 2);
        let mut sizes = ParamSizes::default();
        vae.visit(&mut sizes);
        assert_eq!(adam.owner.len(), sizes.0.len());
        let mut totals = [0usize; 2];
        for (id, size) in &sizes.0 {
            totals[adam.owner[id]] += size;
        }
        let largest = sizes.0.iter().map(|(_, s)| *s).max().unwrap();
        assert_eq!(totals[0] + totals[1], 652_824);
        assert!(totals[0].abs_diff(totals[1]) < largest, "{totals:?}");
    }

    /// Every parameter's values, in the module's order.
    #[derive(Default)]
    struct Values(Vec<Vec<f32>>);

    impl ModuleVisitor for Values {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            self.0
                .push(param.val().into_data().try_to_vec::<f32>().unwrap());
        }
    }

    fn values<M: Module>(model: &M) -> Vec<Vec<f32>> {
        let mut values = Values::default();
        model.visit(&mut values);
        values.0
    }

    /// The default-sized weights of a layer, in a buffer whose address the test knows.
    fn layer_at_known_address(device: &burn::tensor::Device) -> (burn::nn::Linear, usize, usize) {
        use burn::tensor::TensorData;

        let mut layer = burn::nn::LinearConfig::new(37, 5).init(device);
        let weight = TensorData::new(vec![0.25f32; 37 * 5], [37, 5]);
        let bias = TensorData::new(vec![-0.5f32; 5], [5]);
        let addresses = (
            weight.as_bytes().as_ptr() as usize,
            bias.as_bytes().as_ptr() as usize,
        );
        layer.weight = Param::from_tensor(Tensor::from_data(weight, device));
        layer.bias = Some(Param::from_tensor(Tensor::from_data(bias, device)));
        (layer, addresses.0, addresses.1)
    }

    /// The address of a parameter's values, read out of the last model that holds it.
    fn address<const D: usize>(param: Param<Tensor<D>>) -> usize {
        let (_, tensor, _) = param.consume();
        tensor.into_data().as_bytes().as_ptr() as usize
    }

    /// Adam in host memory on burn-flex steps each parameter in its own buffer, in one group
    /// and in two (side by side in the replicas' pools, or one after another): no group's model
    /// shares a parameter that another group's model holds, which would make it a copy first.
    #[test]
    fn host_adam_steps_each_groups_parameters_in_place() {
        use crate::devices::NamedDevice;
        use crate::host_adam::HostAdam;

        let device = burn::tensor::Device::default().autodiff();
        let named = NamedDevice {
            threads: Some(1),
            ..NamedDevice::new("flex", device.clone())
        };
        let replicas = Replica::all(&[named.clone(), named], true).unwrap();
        let input = Tensor::<2>::random([8, 37], burn::tensor::Distribution::Default, &device);
        for (groups, on) in [(1, &[][..]), (2, &[][..]), (2, &replicas[..])] {
            let (layer, weight, bias) = layer_at_known_address(&device);
            let grads = GradientsParams::from_grads(
                layer.forward(input.clone()).square().sum().backward(),
                &layer,
            );
            let adam = || burn::optim::ModuleOptimizer::from(HostAdam::new(0.9, 0.999, None));
            let mut optim = GroupedAdam::new(adam, &layer, groups);
            let stepped = optim.step(1e-3, layer, vec![grads], on);
            assert_eq!(stepped.weight.val().dims(), [37, 5]);
            let moved = stepped
                .weight
                .val()
                .into_data()
                .try_to_vec::<f32>()
                .unwrap();
            assert!(moved.iter().all(|&w| w != 0.25), "the weights stepped");
            let label = format!("{groups} groups, {} replicas", on.len());
            assert_eq!(address(stepped.weight), weight, "weight, {label}");
            assert_eq!(address(stepped.bias.unwrap()), bias, "bias, {label}");
        }
    }

    /// burn's own Adam (on ndarray) steps with subnormals as zeros too: a weight at zero with a
    /// subnormal gradient stays at zero (plain arithmetic moves it by about 3·10⁻³⁷).
    #[test]
    #[cfg(target_arch = "x86_64")]
    fn burns_adam_steps_with_subnormals_as_zeros() {
        use burn::nn::LinearConfig;

        #[allow(deprecated)]
        let device = burn::tensor::Device::ndarray().autodiff();
        let mut layer = LinearConfig::new(4, 3).init(&device);
        layer.weight = Param::from_tensor(Tensor::zeros([4, 3], &device));
        let mut grads = GradientsParams::new();
        let subnormal = f32::MIN_POSITIVE / 4.0;
        grads.register(
            layer.weight.id,
            Tensor::<2>::full([4, 3], subnormal, &device),
        );
        let adam = || burn::optim::AdamConfig::new().init();
        let stepped = GroupedAdam::new(adam, &layer, 1).step(1e-3, layer, vec![grads], &[]);
        let weights = values(&stepped);
        assert!(weights[0].iter().all(|&w| w == 0.0), "{:?}", weights[0]);
    }

    /// Two groups given two devices' gradients (each group adding its own parameters'
    /// gradients, in its replica's pool or here) step the default VAE to the same weights, bit
    /// for bit, as one Adam given their sum; and the second device's gradient counts.
    #[test]
    fn groups_step_the_sum_of_the_devices_gradients_as_one_adam_does() {
        use burn::tensor::Distribution;

        use crate::devices::NamedDevice;

        let device = burn::tensor::Device::default().autodiff();
        let vae = VaeConfig::default().init_vae(&device, 0).unwrap();
        let inputs: Vec<_> = (0..2)
            .map(|_| {
                (
                    Tensor::<2>::random([8, 784], Distribution::Uniform(0.0, 1.0), &device),
                    Tensor::<2>::random([8, 20], Distribution::Normal(0.0, 1.0), &device),
                )
            })
            .collect();
        // The gradients of each device's slice, made afresh for every optimiser.
        let grads = |devices: usize| -> Vec<GradientsParams> {
            inputs[..devices]
                .iter()
                .map(|(x, noise)| {
                    let loss = vae
                        .elbo_terms_with_noise(x.clone(), noise.clone(), 1.0)
                        .loss;
                    GradientsParams::from_grads(loss.backward(), &vae)
                })
                .collect()
        };
        let adam = || burn::optim::AdamConfig::new().init();
        let one = GroupedAdam::new(adam, &vae, 1).step(1e-3, vae.clone(), grads(2), &[]);
        let expected = values(&one);
        let named = NamedDevice {
            threads: Some(1),
            ..NamedDevice::new("flex", device.clone())
        };
        let replicas = Replica::all(&[named.clone(), named], true).unwrap();
        for on in [&replicas[..], &[]] {
            let two = GroupedAdam::new(adam, &vae, 2).step(1e-3, vae.clone(), grads(2), on);
            assert!(values(&two) == expected, "{} replicas", on.len());
        }
        let first_only = GroupedAdam::new(adam, &vae, 2).step(1e-3, vae.clone(), grads(1), &[]);
        assert!(values(&first_only) != expected);
        assert!(values(&one) != values(&vae));
    }
}
