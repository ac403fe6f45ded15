// What tch does not expose about devices: the autocast type, and the CUDA caching
// allocator's peak memory (where spe was built with the CUDA runtime's headers).
#include <ATen/autocast_mode.h>
#ifdef SPE_WITH_CUDA
#include <c10/cuda/CUDACachingAllocator.h>
#endif

// Mixed precision in bfloat16: libtorch's CUDA autocast defaults to float16, and tch
// exposes no setter for the autocast type.
extern "C" void spe_autocast_use_bfloat16() {
  at::autocast::set_autocast_dtype(at::kCUDA, at::kBFloat16);
}

extern "C" int spe_autocast_is_bfloat16() {
  return at::autocast::get_autocast_dtype(at::kCUDA) == at::kBFloat16;
}

// The most bytes of tensors allocated on CUDA device `device` at once since the last reset
// (as torch.cuda.max_memory_allocated), then a reset; -1 where unknown.
extern "C" long long spe_cuda_peak_bytes(int device) {
#ifdef SPE_WITH_CUDA
  try {
    auto index = static_cast<c10::DeviceIndex>(device);
    auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(index);
    auto peak = stats.allocated_bytes[static_cast<size_t>(c10::CachingAllocator::StatType::AGGREGATE)].peak;
    c10::cuda::CUDACachingAllocator::resetPeakStats(index);
    return peak;
  } catch (...) {
    return -1;
  }
#else
  (void)device;
  return -1;
#endif
}
