"""Golden fixtures for the normalization ops (src/ops/norm/tests.rs), from PyTorch.

Run with /usr/bin/python3 (Debian's CPU torch). Tensors are saved channels-last [N,D,H,W,C];
`r` is the upstream gradient: dx, dgamma, dbeta are the gradients of sum(y * r).
"""
import torch
import torch.nn.functional as F

from fixture_io import save


def case(name, per_sample, shape, eps, seed):
    torch.manual_seed(seed)
    n, c, d, h, w = shape
    # Inputs are rounded to float32 (what the fixture stores), then computed in float64.
    f32 = lambda t: t.float().double()
    x = f32(torch.randn(shape) * 1.5 + 0.7).requires_grad_()
    gamma = f32(torch.rand(c) + 0.5).requires_grad_()
    beta = f32(torch.randn(c)).requires_grad_()
    r = f32(torch.randn(shape))
    if per_sample:
        y = F.instance_norm(x, weight=gamma, bias=beta, eps=eps)
        dims = (2, 3, 4)
    else:
        y = F.batch_norm(x, None, None, weight=gamma, bias=beta, training=True, eps=eps)
        dims = (0, 2, 3, 4)
    (y * r).sum().backward()
    mean = x.detach().mean(dim=dims)
    var = x.detach().var(dim=dims, unbiased=False)
    cl = lambda t: t.detach().permute(0, 2, 3, 4, 1)
    func = "instance_norm" if per_sample else "batch_norm(training=True)"
    save(
        name,
        f"torch.nn.functional.{func}, eps={eps}, x NCDHW {list(shape)} (float64),"
        f" saved channels-last; grads of sum(y*r). torch {torch.__version__}",
        x=cl(x), gamma=gamma, beta=beta, r=cl(r), y=cl(y),
        dx=cl(x.grad), dgamma=gamma.grad, dbeta=beta.grad, mean=mean, var=var,
    )


case("norm_batch", False, (2, 3, 3, 4, 5), 1e-3, 1)
case("norm_instance", True, (2, 3, 5, 3, 4), 1e-5, 2)
