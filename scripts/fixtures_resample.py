"""Golden fixtures for the resampling ops (src/ops/resample/tests.rs), from PyTorch.

Run with /usr/bin/python3 (Debian's CPU torch). Tensors are saved channels-last [N,D,H,W,C];
`r` is the upstream gradient: dx is the gradient of sum(y * r).
"""
import torch
import torch.nn.functional as F

from fixture_io import save

cl = lambda t: t.detach().permute(0, 2, 3, 4, 1)

# max_pool3d, kernel 2, stride 2, on odd sizes (the trailing plane/row/column is dropped).
torch.manual_seed(3)
shape = (2, 3, 5, 6, 7)  # NCDHW
x = torch.randn(shape).requires_grad_()  # continuous values: every window's max is unique
y = F.max_pool3d(x, kernel_size=2, stride=2)
r = torch.randn(y.shape)
(y * r).sum().backward()
save(
    "resample_max_pool",
    f"F.max_pool3d(x, kernel_size=2, stride=2), x NCDHW {list(shape)}, saved channels-last;"
    f" dx = grad of sum(y*r). torch {torch.__version__}",
    x=cl(x), r=cl(r), y=cl(y), dx=cl(x.grad),
)

# Nearest x2 upsampling, then cropped to an odd target on D and W.
torch.manual_seed(4)
shape = (2, 3, 3, 4, 5)  # NCDHW
target = (5, 8, 9)
x = torch.randn(shape).requires_grad_()
y = F.interpolate(x, scale_factor=2, mode="nearest")[:, :, : target[0], : target[1], : target[2]]
r = torch.randn(y.shape)
(y * r).sum().backward()
save(
    "resample_upsample",
    f"F.interpolate(x, scale_factor=2, mode='nearest')[:, :, :5, :8, :9], x NCDHW {list(shape)},"
    f" saved channels-last; dx = grad of sum(y*r). torch {torch.__version__}",
    x=cl(x), r=cl(r), y=cl(y), dx=cl(x.grad),
)
