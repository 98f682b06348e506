"""Golden fixtures for voxflow's registration losses (src/ops/loss/tests.rs), by PyTorch autograd.

Run: /usr/bin/python3 scripts/fixtures_loss.py  (writes tests/fixtures/loss_*.txt)

Tensors are channels-last [N, D, H, W, C] float32 inputs, computed in float64:
- lncc: VoxelMorph's local NCC, box sums as conv3d with ones (one filter per channel, "same"
  zero padding, count win**3 everywhere), cc = cross^2 / (I_var * J_var + 1e-5), loss -mean(cc);
- ncc: global Pearson r per sample over all values, r = cov / sqrt(var_a * var_b + 1e-10)
  (population moments), loss -mean over samples of r;
- dice: per sample 1 - (2 sum(ab) + 1e-5) / (sum(a) + sum(b) + 1e-5), averaged over samples.
"""
import torch
import torch.nn.functional as F

from fixture_io import save


def lncc(a, b, win):
    c = a.shape[-1]
    i, j = a.permute(0, 4, 1, 2, 3), b.permute(0, 4, 1, 2, 3)
    filt = torch.ones(c, 1, win, win, win, dtype=a.dtype)

    def box(x):
        return F.conv3d(x, filt, padding=win // 2, groups=c)

    n = float(win ** 3)
    i_sum, j_sum = box(i), box(j)
    i2_sum, j2_sum, ij_sum = box(i * i), box(j * j), box(i * j)
    u_i, u_j = i_sum / n, j_sum / n
    cross = ij_sum - u_j * i_sum - u_i * j_sum + u_i * u_j * n
    i_var = i2_sum - 2 * u_i * i_sum + u_i * u_i * n
    j_var = j2_sum - 2 * u_j * j_sum + u_j * u_j * n
    cc = cross * cross / (i_var * j_var + 1e-5)
    return -cc.mean()


def ncc(a, b):
    n = a.shape[0]
    x, y = a.reshape(n, -1), b.reshape(n, -1)
    x = x - x.mean(dim=1, keepdim=True)
    y = y - y.mean(dim=1, keepdim=True)
    cov = (x * y).mean(dim=1)
    r = cov / torch.sqrt(x.pow(2).mean(dim=1) * y.pow(2).mean(dim=1) + 1e-10)
    return -r.mean()


def dice(a, b):
    n = a.shape[0]
    x, y = a.reshape(n, -1), b.reshape(n, -1)
    d = 1 - (2 * (x * y).sum(dim=1) + 1e-5) / (x.sum(dim=1) + y.sum(dim=1) + 1e-5)
    return d.mean()


def case(f, a32, b32, **kw):
    """Loss and gradients at float32 inputs, computed in float64."""
    a = a32.double().requires_grad_()
    b = b32.double().requires_grad_()
    loss = f(a, b, **kw)
    da, db = torch.autograd.grad(loss, [a, b])
    return a32, b32, loss.detach(), da, db


def pair(shape, mix):
    a = torch.rand(shape)
    b = (mix * a + (1 - mix) * torch.rand(shape)).float()
    return a, b


def main():
    torch.manual_seed(20240611)
    out = {}
    for win, shape in [(9, (1, 12, 11, 13, 1)), (3, (2, 7, 6, 5, 2)), (5, (1, 6, 9, 7, 3))]:
        a, b = pair(shape, 0.6)
        for key, t in zip(["a", "b", "loss", "da", "db"], case(lncc, a, b, win=win)):
            out[f"{key}{win}"] = t
    save("loss_lncc", "lncc (VoxelMorph conv-with-ones) at windows 9, 3, 5: "
         "keys a<w>, b<w>, loss<w>, da<w>, db<w>", **out)

    a, b = pair((2, 5, 6, 7, 2), 0.5)
    save("loss_ncc", "global ncc, r = cov / sqrt(var_a var_b + 1e-10), loss -mean(r)",
         **dict(zip(["a", "b", "loss", "da", "db"], case(ncc, a, b))))

    a = torch.rand(2, 5, 6, 7, 2)
    b = (torch.rand(2, 5, 6, 7, 2) > 0.5).float()
    save("loss_dice", "soft dice, eps 1e-5, averaged over samples (b a binary mask)",
         **dict(zip(["a", "b", "loss", "da", "db"], case(dice, a, b))))


if __name__ == "__main__":
    main()
