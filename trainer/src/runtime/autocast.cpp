// Mixed precision in bfloat16: libtorch's CUDA autocast defaults to float16, and tch
// exposes no setter for the autocast type.
#include <ATen/autocast_mode.h>

extern "C" void spe_autocast_use_bfloat16() {
    at::autocast::set_autocast_dtype(at::kCUDA, at::kBFloat16);
}

extern "C" int spe_autocast_is_bfloat16() {
    return at::autocast::get_autocast_dtype(at::kCUDA) == at::kBFloat16;
}
