//! What the cuda backend needs at run time, checked before burn opens a device, so that a
//! machine without it gets a sentence saying what is missing instead of a panic inside the
//! backend: the NVIDIA driver's `libcuda.so` (burn's CUDA runtime loads it when the first
//! device opens) and CUDA's `libdevice.10.bc` (the math functions — exp, log, tanh — that the
//! LLVM code generator links into the kernels; found where cubecl looks for it).
//!
//! No CUDA toolkit is needed to build or to run otherwise: the binary carries its own code
//! generator and loads the driver dynamically.

use anyhow::{bail, Result};
use std::path::{Path, PathBuf};

/// The CUDA driver found on this machine.
#[derive(Debug, Clone)]
pub struct Driver {
    /// The CUDA version the driver supports, such as `12.8`.
    pub version: String,
    /// How many CUDA devices it sees.
    pub devices: usize,
    /// Each device's name and memory, in index order.
    pub names: Vec<String>,
}

/// Where cubecl looks for the CUDA toolkit when `CUDA_PATH` is not set (its own list).
const CUDA_ROOTS: [&str; 4] = ["/usr/local/cuda", "/opt/cuda", "/usr/lib/cuda", "/usr"];

/// The libdevice bitcode the kernels link, or an error saying where it was looked for and how
/// to provide it.
pub fn libdevice() -> Result<PathBuf> {
    let file = |root: &Path| root.join("nvvm").join("libdevice").join("libdevice.10.bc");
    let hint = "the cuda backend's kernels link it for exp, log and tanh; install the CUDA \
                toolkit, or run `bash scripts/setup/cuda-llvm.sh --libdevice DIR` and set \
                CUDA_PATH=DIR";
    if let Some(root) = std::env::var_os("CUDA_PATH") {
        let path = file(Path::new(&root));
        if !path.is_file() {
            bail!(
                "CUDA_PATH is {}, but {} does not exist ({hint})",
                Path::new(&root).display(),
                path.display()
            );
        }
        return Ok(path);
    }
    match CUDA_ROOTS
        .iter()
        .map(|root| file(Path::new(root)))
        .find(|path| path.is_file())
    {
        Some(path) => Ok(path),
        None => bail!(
            "CUDA's libdevice.10.bc was not found: CUDA_PATH is not set and none of {} has \
             nvvm/libdevice/libdevice.10.bc ({hint})",
            CUDA_ROOTS.join(", ")
        ),
    }
}

/// The CUDA driver, loaded and initialised the way burn's CUDA runtime will load it, with its
/// version and devices; or an error saying why there is none.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn driver() -> Result<Driver> {
    use std::ffi::{c_char, c_int, c_void, CStr, CString};

    let mut handle = std::ptr::null_mut();
    let mut problems = Vec::new();
    for name in ["libcuda.so.1", "libcuda.so"] {
        let cname = CString::new(name).expect("no NUL in the name");
        // SAFETY: dlopen with a valid C string; a null result is handled below.
        handle = unsafe { libc::dlopen(cname.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL) };
        if !handle.is_null() {
            break;
        }
        // SAFETY: dlerror returns null or a valid C string owned by libc.
        let error = unsafe { libc::dlerror() };
        if !error.is_null() {
            // SAFETY: checked non-null just above.
            problems.push(
                unsafe { CStr::from_ptr(error) }
                    .to_string_lossy()
                    .into_owned(),
            );
        }
    }
    if handle.is_null() {
        bail!(
            "no CUDA driver here: the NVIDIA driver's libcuda.so.1 cannot be loaded ({}); the \
             cuda backend needs an NVIDIA GPU with its driver installed (LD_LIBRARY_PATH must \
             reach libcuda.so.1 if it is outside the linker's path)",
            problems.join("; ")
        );
    }
    let symbol = |name: &str| -> Result<*mut c_void> {
        let cname = CString::new(name).expect("no NUL in the name");
        // SAFETY: `handle` is a live handle from dlopen; a null result is handled.
        let pointer = unsafe { libc::dlsym(handle, cname.as_ptr()) };
        if pointer.is_null() {
            bail!("the CUDA driver's libcuda.so has no {name}: the driver is too old or broken");
        }
        Ok(pointer)
    };
    type Init = unsafe extern "C" fn(u32) -> c_int;
    type Count = unsafe extern "C" fn(*mut c_int) -> c_int;
    type DeviceGet = unsafe extern "C" fn(*mut c_int, c_int) -> c_int;
    type Name = unsafe extern "C" fn(*mut c_char, c_int, c_int) -> c_int;
    type Memory = unsafe extern "C" fn(*mut usize, c_int) -> c_int;
    // SAFETY: the symbols are the CUDA driver API's, with these C signatures (cuda.h).
    let (init, get_version, count, get, name, memory) = unsafe {
        (
            std::mem::transmute::<*mut c_void, Init>(symbol("cuInit")?),
            std::mem::transmute::<*mut c_void, Count>(symbol("cuDriverGetVersion")?),
            std::mem::transmute::<*mut c_void, Count>(symbol("cuDeviceGetCount")?),
            std::mem::transmute::<*mut c_void, DeviceGet>(symbol("cuDeviceGet")?),
            std::mem::transmute::<*mut c_void, Name>(symbol("cuDeviceGetName")?),
            std::mem::transmute::<*mut c_void, Memory>(symbol("cuDeviceTotalMem_v2")?),
        )
    };
    let mut raw_version = 0;
    // SAFETY: a valid out-pointer; this call needs no cuInit.
    let version = match unsafe { get_version(&mut raw_version) } {
        0 => format!("{}.{}", raw_version / 1000, (raw_version % 1000) / 10),
        code => bail!("the CUDA driver does not give its version (error {code})"),
    };
    // SAFETY: cuInit takes flags 0.
    let code = unsafe { init(0) };
    if code != 0 {
        let why = match code {
            100 => {
                "no CUDA-capable device is visible (CUDA_VISIBLE_DEVICES, or a container \
                    without the GPU)"
            }
            35 => "the driver is older than the CUDA runtime expects",
            _ => "see the CUDA driver API's error codes",
        };
        bail!("the CUDA driver (CUDA {version}) failed to initialise: error {code}, {why}");
    }
    let mut devices = 0;
    // SAFETY: a valid out-pointer, after cuInit succeeded.
    if unsafe { count(&mut devices) } != 0 || devices <= 0 {
        bail!("the CUDA driver (CUDA {version}) sees no device");
    }
    let names = (0..devices)
        .map(|ordinal| {
            let mut device = 0;
            let mut buffer = [0 as c_char; 256];
            let mut bytes = 0usize;
            // SAFETY: valid out-pointers and buffer length; ordinal < count.
            unsafe {
                if get(&mut device, ordinal) != 0
                    || name(buffer.as_mut_ptr(), buffer.len() as c_int, device) != 0
                {
                    return format!("device {ordinal} (no name)");
                }
                memory(&mut bytes, device);
                let text = CStr::from_ptr(buffer.as_ptr())
                    .to_string_lossy()
                    .into_owned();
                format!("{text}, {:.1} GiB", bytes as f64 / (1u64 << 30) as f64)
            }
        })
        .collect();
    Ok(Driver {
        version,
        devices: devices as usize,
        names,
    })
}

/// The CUDA driver check is written for Linux with glibc; elsewhere burn's own loading decides.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn driver() -> Result<Driver> {
    Ok(Driver {
        version: "unknown (not checked on this platform)".into(),
        devices: usize::MAX,
        names: Vec::new(),
    })
}
