// PyTorch's fused AdamW kernel (`torch.optim.AdamW(fused=True)`), which tch does not expose:
// one pass over each tensor instead of a dozen elementwise operations per variable.
#include "shim.hpp"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>

#include <vector>

static std::vector<at::Tensor> list(at::Tensor** tensors, int n) {
  std::vector<at::Tensor> out;
  out.reserve(n);
  for (int i = 0; i < n; i++) out.push_back(*tensors[i]);
  return out;
}

extern "C" {

// One step over `n` variables that share a learning rate and a weight decay, then the
// gradients are cleared. Their bias corrections all read `step`, a float scalar on their
// device: the kernel reads the step counts and does not raise them (torch.optim.AdamW does
// that before it calls the kernel), so one tensor serves them all.
int spe_fused_adamw(at::Tensor** params, at::Tensor** grads, at::Tensor** m, at::Tensor** v, at::Tensor* step, int n,
                    double lr, double beta1, double beta2, double weight_decay, double eps, char* err, size_t len) {
  return spe_guarded(err, len, [&] {
    at::NoGradGuard no_grad;
    auto g = list(grads, n);
    std::vector<at::Tensor> steps(n, *step);
    at::_fused_adamw_(list(params, n), g, list(m, n), list(v, n), {}, steps, lr, beta1, beta2, weight_decay, eps,
                      /*amsgrad=*/false, /*maximize=*/false);
    at::_foreach_zero_(g);
  });
}
}
