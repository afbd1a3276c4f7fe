//! Devices as training and evaluation use them: named devices, CPU replicas with thread pools
//! of their own, the even split of a batch among them, and the work of each side by side (in
//! its own pool, or a thread of its own for a device without one).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

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
    /// The job that takes the replica's work in its pool (see [`Lane`]), started with the
    /// first; declared before the pool so that it is told to end before the pool goes.
    lane: OnceLock<Lane>,
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
                Ok(Replica {
                    device,
                    lane: OnceLock::new(),
                    pool,
                })
            })
            .collect()
    }

    /// Whether the device works in a thread pool of its own.
    pub(crate) fn has_pool(&self) -> bool {
        self.pool.is_some()
    }

    /// Runs `work` in the device's own thread pool (by its [`Lane`]), or here if it has none.
    pub(crate) fn run<T: Send>(&self, work: impl FnOnce() -> T + Send) -> T {
        if self.pool.is_none() {
            return work();
        }
        on_lanes(vec![(self, work)])
            .pop()
            .expect("one job, one result")
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    }

    /// The replica's lane, started in its pool with the first call.
    fn lane(&self) -> &Lane {
        self.lane.get_or_init(|| {
            let pool = self
                .pool
                .as_ref()
                .expect("lanes serve replicas with a pool of their own");
            let shared = Arc::new(LaneShared::default());
            let served = shared.clone();
            pool.spawn(move || served.serve());
            Lane(shared)
        })
    }
}

/// How long a [`Lane`] waits for its next job by giving its core to whatever else is ready
/// (`yield_now`) before it sleeps: longer than the gaps between the phases of a training step
/// (a few hundred microseconds), short enough that an idle run sleeps at once to the eye.
const LANE_SPIN: Duration = Duration::from_millis(2);

/// Work sent to a lane.
type LaneJob = Box<dyn FnOnce() + Send + 'static>;

/// A job that runs in a CPU replica's thread pool for the replica's life and runs the work
/// sent to it, one job after another, in that pool (the backend's own parallel loops inside it
/// then use the pool's threads, as with `ThreadPool::install`). Between jobs it yields its core
/// for [`LANE_SPIN`] before it parks: a rayon worker parks as soon as it finds no work, and
/// waking a parked thread on a virtual machine's idle core took 0.1–0.4 ms, twice a training
/// step of a few milliseconds (BENCHMARKS.md, *Replicas that wait awake*).
struct Lane(Arc<LaneShared>);

/// What a lane and those who send it work share.
#[derive(Default)]
struct LaneShared {
    jobs: Mutex<VecDeque<LaneJob>>,
    /// Jobs sent and not yet taken.
    waiting: AtomicUsize,
    /// Set when the replica goes: the lane ends once its jobs are done.
    closed: AtomicBool,
    /// The lane's thread, to wake it.
    thread: OnceLock<std::thread::Thread>,
}

impl LaneShared {
    /// The lane: its jobs as they come, until it is closed.
    fn serve(&self) {
        let _ = self.thread.set(std::thread::current());
        let mut idle = Instant::now();
        loop {
            if self.waiting.load(Ordering::SeqCst) > 0 {
                let job = lock(&self.jobs).pop_front();
                if let Some(job) = job {
                    self.waiting.fetch_sub(1, Ordering::SeqCst);
                    job();
                }
                idle = Instant::now();
            } else if self.closed.load(Ordering::SeqCst) {
                return;
            } else if idle.elapsed() < LANE_SPIN {
                std::thread::yield_now();
            } else {
                std::thread::park();
            }
        }
    }

    fn send(&self, job: LaneJob) {
        lock(&self.jobs).push_back(job);
        self.waiting.fetch_add(1, Ordering::SeqCst);
        self.wake();
    }

    fn wake(&self) {
        if let Some(thread) = self.thread.get() {
            thread.unpark();
        }
    }
}

impl Drop for Lane {
    fn drop(&mut self) {
        self.0.closed.store(true, Ordering::SeqCst);
        self.0.wake();
    }
}

/// `mutex`'s guard, also where a job panicked while holding it (every job's panic is caught;
/// the values under these locks stay whole).
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Runs each job on its replica's lane, all at once, and returns what each returned or the
/// panic that stopped it, in the jobs' order; the calling thread sleeps until the last is done.
/// Every replica must have a pool of its own.
fn on_lanes<T: Send, F: FnOnce() -> T + Send>(
    jobs: Vec<(&Replica, F)>,
) -> Vec<std::thread::Result<T>> {
    use std::panic::{catch_unwind, AssertUnwindSafe};

    type Slot<T> = Arc<Mutex<Option<std::thread::Result<T>>>>;

    /// Waits, where it is dropped (on the way out, or unwinding), until no job is running.
    struct AllDone(Arc<AtomicUsize>);

    impl Drop for AllDone {
        fn drop(&mut self) {
            while self.0.load(Ordering::SeqCst) > 0 {
                std::thread::park();
            }
        }
    }

    let running = Arc::new(AtomicUsize::new(0));
    let all_done = AllDone(running.clone());
    let waiter = std::thread::current();
    let slots: Vec<Slot<T>> = jobs.iter().map(|_| Arc::default()).collect();
    for ((replica, job), slot) in jobs.into_iter().zip(&slots) {
        // The lane first: the count must only take in jobs that are sent.
        let lane = replica.lane();
        let (slot, running, waiter) = (slot.clone(), running.clone(), waiter.clone());
        running.fetch_add(1, Ordering::SeqCst);
        let job: Box<dyn FnOnce() + Send + '_> = Box::new(move || {
            let done = catch_unwind(AssertUnwindSafe(job));
            *lock(&slot) = Some(done);
            // Nothing of the caller's is touched once the count says this job is done.
            drop(slot);
            if running.fetch_sub(1, Ordering::SeqCst) == 1 {
                waiter.unpark();
            }
        });
        // SAFETY: the job may borrow from the caller's frame, which outlives it: this function
        // does not return, nor unwind past `all_done`, before the count of running jobs is back
        // to zero, which each job lowers only after it has run, stored its result and dropped
        // all it holds of the caller's (what it touches after that, the count and the waiter's
        // handle, it owns). This is how scoped threads make a borrowed job `'static`.
        let job = unsafe { std::mem::transmute::<Box<dyn FnOnce() + Send + '_>, LaneJob>(job) };
        lane.0.send(job);
    }
    drop(all_done);
    slots
        .into_iter()
        .map(|slot| {
            lock(&slot)
                .take()
                .expect("every job ran to its end or its panic")
        })
        .collect()
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
/// replicas), each job goes to its replica's [`Lane`] in that pool, and the calling thread
/// waits; no thread is started. Otherwise each job gets a thread of its own (a GPU's or a
/// compute server's work is then waited on in parallel).
pub(crate) fn side_by_side<T: Send, F: FnOnce() -> T + Send>(
    jobs: Vec<(&Replica, F)>,
) -> Vec<std::thread::Result<T>> {
    if jobs.iter().all(|(replica, _)| replica.has_pool()) {
        return on_lanes(jobs);
    }
    std::thread::scope(|scope| {
        let threads: Vec<_> = jobs
            .into_iter()
            .map(|(replica, job)| scope.spawn(move || replica.run(job)))
            .collect();
        // Every thread joined, so the scope itself does not panic for one that did.
        threads.into_iter().map(|thread| thread.join()).collect()
    })
}

/// Whether `device` is a remote compute server's.
pub(crate) fn is_remote(device: &Device) -> bool {
    latent_distributions::host::backend_form(device).starts_with("Remote")
}

/// Whether Adam steps faster on `device` in one pass over host memory (`host_adam`) than as
/// burn's tensor operations: on burn-flex, whose tensors are read out and written back without
/// a copy where they are not shared ([`latent_distributions::host::in_host_memory`]). Not on
/// ndarray, where reading the tensors out and back costs more than burn's passes (measured:
/// half the training speed). A form this does not know answers `false`: burn's Adam, the same
/// values.
pub(crate) fn adam_in_host_memory(device: &Device) -> bool {
    latent_distributions::host::in_host_memory(device)
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

    fn two_replicas(threads: usize) -> Vec<Replica> {
        let named = NamedDevice {
            threads: Some(threads),
            ..NamedDevice::new("flex", Device::default())
        };
        Replica::all(&[named.clone(), named], false).unwrap()
    }

    /// Jobs sent to the replicas' lanes run in their own pools (their threads, their thread
    /// counts), all at once, on data borrowed from the caller; a job's panic comes back as that
    /// job's error while the others' results come back whole, and the lanes go on serving.
    #[test]
    fn lanes_run_borrowed_jobs_in_their_pools_and_return_panics() {
        let replicas = two_replicas(2);
        let borrowed: Vec<u64> = (1..=1000).collect();
        let started = AtomicUsize::new(0);
        let jobs = (0..2)
            .map(|i| {
                let (borrowed, started) = (&borrowed, &started);
                let job = move || {
                    // Both jobs must be running at once to pass this.
                    started.fetch_add(1, Ordering::SeqCst);
                    let wait = Instant::now();
                    while started.load(Ordering::SeqCst) < 2 {
                        assert!(
                            wait.elapsed() < Duration::from_secs(10),
                            "job {i} ran alone"
                        );
                        std::thread::yield_now();
                    }
                    let name = std::thread::current().name().map(str::to_string);
                    (
                        i,
                        rayon::current_num_threads(),
                        name,
                        borrowed.iter().sum::<u64>(),
                    )
                };
                (&replicas[i], job)
            })
            .collect();
        for (i, done) in side_by_side(jobs).into_iter().enumerate() {
            let (job, threads, name, sum) = done.unwrap();
            assert_eq!((job, threads, sum), (i, 2, 500_500));
            assert!(name.unwrap().starts_with("latent-replica-"));
        }
        for round in 0..3 {
            let jobs = (0..2)
                .map(|i| {
                    (&replicas[i], move || {
                        assert!(i != 1, "replica 1 fails in round {round}");
                        i + round
                    })
                })
                .collect();
            let done = side_by_side(jobs);
            assert_eq!(*done[0].as_ref().unwrap(), round);
            let problem = panic_message(&**done[1].as_ref().unwrap_err());
            assert_eq!(problem, format!("replica 1 fails in round {round}"));
        }
        assert_eq!(replicas[1].run(|| rayon::current_num_threads() + 1), 3);
    }

    /// A replica's lane ends with the replica: its job in the pool returns, whether it was
    /// waiting awake or asleep.
    #[test]
    fn lanes_end_with_their_replicas() {
        for pause in [Duration::ZERO, LANE_SPIN * 5] {
            let replicas = two_replicas(1);
            assert_eq!(replicas[0].run(|| 7), 7);
            let lane = Arc::downgrade(&replicas[0].lane.get().expect("started by `run`").0);
            std::thread::sleep(pause);
            drop(replicas);
            let start = Instant::now();
            while lane.strong_count() > 0 {
                assert!(
                    start.elapsed() < Duration::from_secs(10),
                    "the lane still runs, {pause:?} after its last job"
                );
                std::thread::sleep(Duration::from_millis(1));
            }
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
