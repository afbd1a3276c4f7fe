//! Devices as training and evaluation use them: named devices, CPU replicas with thread pools
//! of their own, the even split of a batch among them, and the work of each side by side (in
//! its own pool, or a thread of its own for a device without one).

use burn::tensor::{Device, Tensor};

use crate::error::{invalid, Result};

/// A device and the name it goes by in `config.json` and in errors.
#[derive(Debug, Clone)]
pub struct NamedDevice {
    /// `flex`, `wgpu:0`, `ws://HOST:PORT`, ….
    pub name: String,
    /// The device.
    pub device: Device,
    /// The size of a thread pool of the device's own, in which its share of each step runs
    /// (the CPU backends' matrix products and reductions then use these threads and no
    /// others); `None`: the process's shared pool. Several CPU devices of one backend, each
    /// with `threads` = cores / devices, are data-parallel replicas on one machine.
    pub threads: Option<usize>,
}

impl NamedDevice {
    /// `device`, called `name`, in the process's shared thread pool.
    pub fn new(name: impl Into<String>, device: Device) -> Self {
        Self {
            name: name.into(),
            device,
            threads: None,
        }
    }

    /// `device` named by its debug form (what a single-device call records).
    pub fn unnamed(device: &Device) -> Self {
        Self::new(format!("{device:?}"), device.clone())
    }
}

/// How many CPU replicas to make (`--replicas N|auto`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplicaCount {
    /// One per [`IMAGES_PER_REPLICA`] images of a training batch, or one per thread for
    /// evaluation; never more than the threads; one on a GPU.
    Auto,
    /// Exactly this many (at least 1).
    Count(usize),
}

impl std::str::FromStr for ReplicaCount {
    type Err = String;

    fn from_str(value: &str) -> std::result::Result<Self, String> {
        match value {
            "auto" => Ok(ReplicaCount::Auto),
            _ => match value.parse::<usize>() {
                Ok(0) => Err("at least 1 replica is needed".into()),
                Ok(n) => Ok(ReplicaCount::Count(n)),
                Err(_) => Err(format!("`{value}` is neither a number nor `auto`")),
            },
        }
    }
}

/// Images of a batch below which an `auto` replica is not worth its share of the threads:
/// measured on the default VAE (BENCHMARKS.md), two single-threaded replicas of 64 images
/// train faster than one two-threaded copy of 128.
pub const IMAGES_PER_REPLICA: usize = 64;

/// The replicas of `count` on `device` (a device of the backend `name`; `cpu`: whether it
/// computes in the process's CPU thread pool): each one's share of that pool's threads, or the
/// one device in the shared pool. For training, `batch` is the images of a step: `auto` then
/// makes one replica per [`IMAGES_PER_REPLICA`] of them; for evaluation (`None`), one per
/// thread. Never more than one per thread.
pub fn cpu_replicas(
    name: &str,
    device: &Device,
    cpu: bool,
    count: ReplicaCount,
    batch: Option<usize>,
) -> Result<Vec<NamedDevice>> {
    let threads = rayon::current_num_threads();
    let count = match count {
        ReplicaCount::Auto if cpu => batch
            .map_or(threads, |b| b / IMAGES_PER_REPLICA)
            .clamp(1, threads),
        ReplicaCount::Auto => 1,
        ReplicaCount::Count(n) if n > 1 && !cpu => {
            return Err(invalid(
                "replicas",
                format!(
                "CPU replicas share out the CPU's threads; the {name} backend has no use for them"
            ),
            ))
        }
        ReplicaCount::Count(n) if batch.is_some_and(|b| n > b) => {
            return Err(invalid(
                "replicas",
                format!(
                    "{n} is more than the {} images of a batch (--batch-size)",
                    batch.unwrap_or_default()
                ),
            ))
        }
        ReplicaCount::Count(n) => n,
    };
    if count == 1 {
        return Ok(vec![NamedDevice::new(name, device.clone())]);
    }
    if count > threads {
        tracing::warn!(
            "{count} replicas on {threads} threads: each replica gets one thread, and the \
             replicas take turns"
        );
    }
    Ok((0..count)
        .map(|i| NamedDevice {
            threads: Some((threads / count + usize::from(i < threads % count)).max(1)),
            ..NamedDevice::new(name, device.clone())
        })
        .collect())
}

/// Rows of each device's slice of a batch of `n`: as even as possible, the first devices
/// taking one more; a device may get an empty slice when `n` is smaller than the device count.
pub fn shard_ranges(n: usize, devices: usize) -> Vec<std::ops::Range<usize>> {
    let (base, extra) = (n / devices, n % devices);
    let mut start = 0;
    (0..devices)
        .map(|i| {
            let len = base + usize::from(i < extra);
            start += len;
            start - len..start
        })
        .collect()
}

/// A device of a run, as training uses it.
pub(crate) struct Replica {
    /// The device (its autodiff form when training).
    pub(crate) device: Device,
    /// Its own thread pool, if it has one.
    pool: Option<rayon::ThreadPool>,
}

impl Replica {
    /// The replicas of `devices` (on their autodiff devices if `autodiff`), each with its own
    /// thread pool where it asks for one.
    pub(crate) fn all(devices: &[NamedDevice], autodiff: bool) -> Result<Vec<Self>> {
        if devices.is_empty() {
            return Err(invalid("devices", "at least one device is needed"));
        }
        devices
            .iter()
            .map(|d| {
                let pool = match d.threads {
                    Some(0) => Err("0 threads".to_string()),
                    Some(n) => rayon::ThreadPoolBuilder::new()
                        .num_threads(n)
                        .thread_name(move |i| format!("latent-replica-{i}"))
                        .build()
                        .map(Some)
                        .map_err(|e| e.to_string()),
                    None => Ok(None),
                }
                .map_err(|problem| invalid("threads", format!("device {}: {problem}", d.name)))?;
                let device = if autodiff {
                    d.device.clone().autodiff()
                } else {
                    d.device.clone()
                };
                Ok(Replica { device, pool })
            })
            .collect()
    }

    /// Whether the device works in a thread pool of its own.
    pub(crate) fn has_pool(&self) -> bool {
        self.pool.is_some()
    }

    /// Runs `work` in the device's own thread pool, or here if it has none.
    pub(crate) fn run<T: Send>(&self, work: impl FnOnce() -> T + Send) -> T {
        match &self.pool {
            Some(pool) => pool.install(work),
            None => work(),
        }
    }
}

/// Runs `work(i, rows)` for each replica i's slice of `n` rows (see [`shard_ranges`]; replicas
/// whose slice is empty do nothing), side by side (see [`side_by_side`]), and returns the
/// results in replica order; or the panic of a replica, as text. One replica works in the
/// calling thread.
pub(crate) fn spread<T: Send>(
    replicas: &[Replica],
    n: usize,
    work: impl Fn(usize, std::ops::Range<usize>) -> T + Sync,
) -> std::result::Result<Vec<T>, String> {
    if let [only] = replicas {
        return Ok(vec![only.run(|| work(0, 0..n))]);
    }
    let work = &work;
    let jobs: Vec<_> = shard_ranges(n, replicas.len())
        .into_iter()
        .zip(replicas)
        .enumerate()
        .filter(|(_, (rows, _))| !rows.is_empty())
        .map(|(i, (rows, replica))| (replica, move || work(i, rows)))
        .collect();
    side_by_side(jobs)
        .into_iter()
        .map(|done| done.map_err(|p| panic_message(&*p)))
        .collect()
}

/// Runs each job on its replica at the same time and returns what each returned or the panic
/// that stopped it, in the jobs' order. Where every replica has a thread pool of its own (CPU
/// replicas), each job is spawned straight into its replica's pool, and the calling thread
/// waits; no thread is started. Otherwise each job gets a thread of its own (a GPU's or a
/// compute server's work is then waited on in parallel).
pub(crate) fn side_by_side<T: Send, F: FnOnce() -> T + Send>(
    jobs: Vec<(&Replica, F)>,
) -> Vec<std::thread::Result<T>> {
    use std::panic::{catch_unwind, AssertUnwindSafe};
    use std::sync::Mutex;

    type Slot<T> = Mutex<Option<std::thread::Result<T>>>;

    /// Spawns the next job into its replica's pool inside a scope of that pool, and the
    /// rest inside it: the scopes close, waiting for their jobs, once all are spawned.
    fn nest<T: Send, F: FnOnce() -> T + Send>(
        jobs: &mut std::vec::IntoIter<(&Replica, F)>,
        slots: &[Slot<T>],
    ) {
        let Some((replica, job)) = jobs.next() else {
            return;
        };
        let (slot, rest) = slots.split_first().expect("a slot for every job");
        let pool = replica
            .pool
            .as_ref()
            .expect("checked: every replica has a pool");
        pool.in_place_scope(|scope| {
            scope.spawn(move |_| {
                let done = catch_unwind(AssertUnwindSafe(job));
                *slot.lock().unwrap_or_else(|e| e.into_inner()) = Some(done);
            });
            nest(jobs, rest);
        });
    }

    let slots: Vec<Slot<T>> = jobs.iter().map(|_| Mutex::new(None)).collect();
    if jobs.iter().all(|(replica, _)| replica.has_pool()) {
        nest(&mut jobs.into_iter(), &slots);
    } else {
        std::thread::scope(|scope| {
            for ((replica, job), slot) in jobs.into_iter().zip(&slots) {
                scope.spawn(move || {
                    let done = catch_unwind(AssertUnwindSafe(|| replica.run(job)));
                    *slot.lock().unwrap_or_else(|e| e.into_inner()) = Some(done);
                });
            }
        });
    }
    slots
        .into_iter()
        .map(|slot| {
            slot.into_inner()
                .unwrap_or_else(|e| e.into_inner())
                .expect("every job ran to its end or its panic")
        })
        .collect()
}

/// The backend's own form of `device` without its autodiff association, as its debug form
/// writes it: `Flex`, `NdArray(Cpu)`, `Remote(…)`, `Cube(…)`. A library crate names no backend;
/// this is how it tells the few kinds apart that it treats differently.
fn backend_form(device: &Device) -> String {
    let form = format!("{:?}", device.clone().without_autodiff());
    form.strip_prefix("Device<")
        .and_then(|rest| rest.strip_suffix('>'))
        .map_or(form.clone(), str::to_string)
}

/// Whether `device` is a remote compute server's.
pub(crate) fn is_remote(device: &Device) -> bool {
    backend_form(device).starts_with("Remote")
}

/// Whether Adam steps faster on `device` in one pass over host memory (`host_adam`) than as
/// burn's tensor operations: on burn-flex, whose tensors are read out and written back without
/// a copy where they are not shared (see [`backend_form`]). Not on ndarray, where reading the
/// tensors out and back costs more than burn's passes (measured: half the training speed).
/// A form this does not know answers `false`: burn's Adam, the same values.
pub(crate) fn adam_in_host_memory(device: &Device) -> bool {
    backend_form(device).starts_with("Flex")
}

/// The names of the devices that no longer answer (all of them where every one does).
pub(crate) fn failed_device(devices: &[NamedDevice]) -> String {
    let dead: Vec<&str> = devices
        .iter()
        .filter(|d| device_check(&d.device).is_err())
        .map(|d| d.name.as_str())
        .collect();
    if dead.is_empty() {
        devices
            .iter()
            .map(|d| d.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    } else {
        dead.join(", ")
    }
}

/// Computes one value on `device` and reads it back: `Err` says why it could not (burn's
/// remote devices panic where their session has ended; that is an error here too).
pub fn device_check(device: &Device) -> std::result::Result<(), String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        Tensor::<1>::ones([1], device)
            .try_into_data()
            .map(|_| ())
            .map_err(|e| format!("{e:?}"))
    }))
    .unwrap_or_else(|payload| Err(panic_message(&*payload)))
}

/// The text of a panic's payload.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "it stopped answering".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// burn-flex's devices, plain and autodiff, are told apart from the others by their debug
    /// forms.
    #[test]
    fn adam_steps_in_host_memory_on_flex_only() {
        #[allow(deprecated)]
        let ndarray = Device::ndarray();
        let flex = Device::default();
        for device in [flex.clone(), flex.autodiff()] {
            assert!(adam_in_host_memory(&device), "{device:?}");
            assert!(!is_remote(&device), "{device:?}");
        }
        for device in [ndarray.clone(), ndarray.autodiff()] {
            assert!(!adam_in_host_memory(&device), "{device:?}");
        }
    }

    #[test]
    fn replica_counts_parse_and_refuse_zero() {
        assert_eq!("auto".parse::<ReplicaCount>(), Ok(ReplicaCount::Auto));
        assert_eq!("3".parse::<ReplicaCount>(), Ok(ReplicaCount::Count(3)));
        assert!("0"
            .parse::<ReplicaCount>()
            .unwrap_err()
            .contains("at least 1"));
        assert!("some"
            .parse::<ReplicaCount>()
            .unwrap_err()
            .contains("neither"));
    }
}
