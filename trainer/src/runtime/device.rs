//! The device a command runs on, its mixed precision, and the copies to it.

use anyhow::{bail, ensure, Result};
use tch::{Device, Kind, Tensor};

/// Parses `--device`: `cpu`, `cuda`, `cuda:N`, or `None`/`auto` for CUDA where libtorch
/// finds one and the CPU otherwise.
pub fn parse_device(name: Option<&str>) -> Result<Device> {
    Ok(match name {
        None | Some("auto") => Device::cuda_if_available(),
        Some("cpu") => Device::Cpu,
        Some("cuda") => {
            ensure!(tch::Cuda::is_available(), "--device cuda: no CUDA device is available to libtorch");
            Device::Cuda(0)
        }
        Some(other) => match other.strip_prefix("cuda:").and_then(|i| i.parse::<usize>().ok()) {
            Some(i) => {
                ensure!(i < tch::Cuda::device_count() as usize, "--device {other}: no such CUDA device");
                Device::Cuda(i)
            }
            None => bail!("--device {other:?}: expected cpu, cuda or cuda:N"),
        },
    })
}

/// Switches libtorch's CUDA autocast to bfloat16 (its default is float16, and tch offers
/// no setter; the shim is `src/runtime/device.cpp`).
pub fn autocast_bfloat16() {
    extern "C" {
        fn spe_autocast_use_bfloat16();
    }
    // SAFETY: the shim only sets libtorch's autocast type, a global setting.
    unsafe { spe_autocast_use_bfloat16() }
}

/// The most bytes of tensors allocated on `device` at once since the last call (as
/// `torch.cuda.max_memory_allocated`, then a reset); `None` on the CPU, or where spe was
/// built without the CUDA headers.
pub fn cuda_peak_bytes(device: Device) -> Option<u64> {
    extern "C" {
        fn spe_cuda_peak_bytes(device: i32) -> i64;
    }
    let Device::Cuda(index) = device else { return None };
    // SAFETY: reads the caching allocator's statistics; the shim catches every exception.
    u64::try_from(unsafe { spe_cuda_peak_bytes(index as i32) }).ok()
}

/// A host buffer of `shape` as an int64 tensor on `device`: pinned and copied without
/// blocking on CUDA, so that the copy overlaps the work already queued.
pub fn upload(values: &[i64], shape: &[i64], device: Device) -> Tensor {
    let host = Tensor::from_slice(values).view(shape);
    match device {
        Device::Cpu => host,
        _ => host.pin_memory(device).to_device_(device, Kind::Int64, true, false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn autocast_is_set_to_bfloat16() {
        extern "C" {
            fn spe_autocast_is_bfloat16() -> i32;
        }
        autocast_bfloat16();
        // SAFETY: reads libtorch's global autocast type.
        assert_eq!(unsafe { spe_autocast_is_bfloat16() }, 1);
    }

    #[test]
    fn peak_memory_is_reported_for_cuda_devices_only() {
        assert_eq!(cuda_peak_bytes(Device::Cpu), None);
        if tch::Cuda::is_available() {
            let _t = Tensor::zeros([1 << 20], (Kind::Float, Device::Cuda(0)));
            assert!(cuda_peak_bytes(Device::Cuda(0)).is_some_and(|b| b >= 4 << 20));
        }
    }

    #[test]
    fn devices_parse_or_say_what_is_expected() {
        assert_eq!(parse_device(Some("cpu")).unwrap(), Device::Cpu);
        let err = parse_device(Some("gpu")).unwrap_err().to_string();
        assert!(err.contains("expected cpu, cuda or cuda:N"), "{err}");
        let t = upload(&[1, 2, 3, 4, 5, 6], &[2, 3], Device::Cpu);
        assert_eq!(t.size(), [2, 3]);
    }
}
