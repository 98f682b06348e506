"""PyTorch + cuDNN reference timings on the GPU machine, to put beside voxflow's gpu_ops bench.

Run there: `python3 scripts/torch_compare.py` (PyTorch with CUDA installed). Prints a markdown
table: conv3d fprop/dgrad/wgrad at the bench's shapes in true fp32 (TF32 off) and with TF32
allowed (PyTorch's default for cuDNN convolutions), the device copy bandwidth (x.clone()),
grid_sample at 128³ and 256³ (forward; backward to the grid alone and to grid and image), and a full
U-Net training step (SPEC 3.1 architecture: conv blocks with LeakyReLU 0.3 and
BatchNorm, nearest upsampling, skip concatenations, sigmoid gradient head, cumulative-sum
integration, trilinear grid_sample, MSE, Adam) at 64³ and 128³.
"""
import json
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

dev = torch.device("cuda:0")
torch.backends.cudnn.benchmark = True


def time_ms(fn, iters=20, warmup=5):
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(iters):
        a = torch.cuda.Event(enable_timing=True)
        b = torch.cuda.Event(enable_timing=True)
        a.record()
        fn()
        b.record()
        torch.cuda.synchronize()
        times.append(a.elapsed_time(b))
    times.sort()
    return times[len(times) // 2]


CASES = [
    ("64^3 32->32", (1, 32, 64, 64, 64), 32, 1),
    ("64^3 16->32", (1, 16, 64, 64, 64), 32, 1),
    ("32^3 32->32", (1, 32, 32, 32, 32), 32, 1),
    ("128^3 2->16 s2", (1, 2, 128, 128, 128), 16, 2),
    ("64^3 16->3", (1, 16, 64, 64, 64), 3, 1),
    ("128^3 16->16", (1, 16, 128, 128, 128), 16, 1),
]


def conv_rows(tf32):
    torch.backends.cudnn.allow_tf32 = tf32
    torch.backends.cuda.matmul.allow_tf32 = tf32
    rows = []
    for name, shape, cout, stride in CASES:
        x = torch.randn(shape, device=dev).contiguous(memory_format=torch.channels_last_3d)
        w = torch.randn((cout, shape[1], 3, 3, 3), device=dev).contiguous(
            memory_format=torch.channels_last_3d
        )
        y = F.conv3d(x, w, stride=stride, padding=1)
        dy = torch.randn_like(y)
        out_vox = y.shape[2] * y.shape[3] * y.shape[4]
        flops = 2.0 * out_vox * 27 * shape[1] * cout
        args = (dy, x, w, None, [stride] * 3, [1] * 3, [1] * 3, False, [0] * 3, 1)
        f = time_ms(lambda: F.conv3d(x, w, stride=stride, padding=1))
        d = time_ms(lambda: torch.ops.aten.convolution_backward(*args, [True, False, False]))
        g = time_ms(lambda: torch.ops.aten.convolution_backward(*args, [False, True, False]))
        for pass_, ms in (("fprop", f), ("dgrad", d), ("wgrad", g)):
            rows.append(dict(case=name, pass_=pass_, tf32=tf32, ms=ms, tflops=flops / ms / 1e9))
    return rows


def sampling_rows(s):
    """F.grid_sample at s^3, C = 1, on a smooth field (identity plus a one-voxel sine):
    forward, backward to the grid alone (training's case), and backward to both (PyTorch adds
    the image gradient with float atomics, in no fixed order)."""
    axis = torch.linspace(-1, 1, s, device=dev)
    z, y, x = torch.meshgrid(axis, axis, axis, indexing="ij")
    bump = 2.0 / (s - 1) * torch.sin(3.0 * (x + y + z))
    grid = torch.stack((x + bump, y - bump, z + bump), dim=-1)[None].contiguous()
    img = torch.randn((1, 1, s, s, s), device=dev)
    rows = []
    for name, img_grad in (("backward, grid only", False), ("backward, grid and image", True)):
        im = img.clone().requires_grad_(img_grad)
        g = grid.clone().requires_grad_(True)
        out = F.grid_sample(im, g, mode="bilinear", padding_mode="border", align_corners=True)
        dy = torch.randn_like(out)
        inputs = (g, im) if img_grad else (g,)
        ms = time_ms(lambda: torch.autograd.grad(out, inputs, dy, retain_graph=True))
        rows.append((name, ms))
    fwd = time_ms(
        lambda: F.grid_sample(img, grid, mode="bilinear", padding_mode="border", align_corners=True)
    )
    return [("forward", fwd)] + rows


def copy_bandwidth():
    x = torch.randn(128 ** 3 * 16, device=dev)
    ms = time_ms(lambda: x.clone())
    return 2 * x.numel() * 4 / ms / 1e6  # GB/s, read + write


class Block(nn.Module):
    def __init__(self, cin, cout, stride=1):
        super().__init__()
        self.conv = nn.Conv3d(cin, cout, 3, stride=stride, padding=1)
        self.bn = nn.BatchNorm3d(cout, eps=1e-3, momentum=0.01)

    def forward(self, x):
        return self.bn(F.leaky_relu(self.conv(x), 0.3))


class UNet(nn.Module):
    def __init__(self, enc=(16, 32, 32, 32), dec=(32, 32, 32, 32, 16, 16)):
        super().__init__()
        self.enc = nn.ModuleList()
        c = 2
        skips = []
        for nf in enc:
            self.enc.append(Block(c, nf, 2))
            skips.append(nf)
            c = nf
        self.dec = nn.ModuleList()
        for i, nf in enumerate(dec[:-3]):
            self.dec.append(Block(c, nf))
            c = nf + skips[len(skips) - 2 - i]
        self.d1 = Block(c, dec[-3])
        self.d2 = Block(dec[-3], dec[-2])
        self.d3 = Block(dec[-2] + 2, dec[-1])
        self.flow = nn.Conv3d(dec[-1], 3, 3, padding=1)

    def forward(self, src, tgt):
        x_in = torch.cat([src, tgt], 1)
        e = []
        x = x_in
        for b in self.enc:
            x = b(x)
            e.append(x)
        for i, b in enumerate(self.dec):
            x = F.interpolate(b(x), scale_factor=2, mode="nearest")
            x = torch.cat([x, e[len(e) - 2 - i]], 1)
        x = self.d2(self.d1(x))
        x = torch.cat([F.interpolate(x, scale_factor=2, mode="nearest"), x_in], 1)
        phi = 2 * torch.sigmoid(self.flow(self.d3(x)))
        # Integration: coordinate along each axis = cumulative sum of its channel − 1.
        gx = torch.cumsum(phi[:, 0], dim=3) - 1
        gy = torch.cumsum(phi[:, 1], dim=2) - 1
        gz = torch.cumsum(phi[:, 2], dim=1) - 1
        d, h, w = src.shape[2:]
        grid = torch.stack(
            [2 * gx / (w - 1) - 1, 2 * gy / (h - 1) - 1, 2 * gz / (d - 1) - 1], dim=-1
        )
        return F.grid_sample(src, grid, mode="bilinear", padding_mode="border", align_corners=True)


def unet_step_ms(size):
    torch.backends.cudnn.allow_tf32 = False
    model = UNet().to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    src = torch.randn(1, 1, size, size, size, device=dev)
    tgt = torch.randn(1, 1, size, size, size, device=dev)

    def step():
        opt.zero_grad(set_to_none=True)
        loss = F.mse_loss(model(src, tgt), tgt)
        loss.backward()
        opt.step()
        return loss.item()

    return time_ms(step, iters=10, warmup=3), sum(p.numel() for p in model.parameters())


def main():
    print(f"# PyTorch {torch.__version__}, cuDNN {torch.backends.cudnn.version()}, "
          f"{torch.cuda.get_device_name(0)}")
    rows = conv_rows(False) + conv_rows(True)
    print("| case | pass | cuDNN fp32 ms | TFLOP/s | cuDNN TF32 ms | TFLOP/s |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        if r["tf32"]:
            continue
        t = next(x for x in rows if x["tf32"] and x["case"] == r["case"] and x["pass_"] == r["pass_"])
        print(f"| {r['case']} | {r['pass_']} | {r['ms']:.3f} | {r['tflops']:.1f} | "
              f"{t['ms']:.3f} | {t['tflops']:.1f} |")
    print(f"\ncopy bandwidth (x.clone(), 128^3x16 f32): {copy_bandwidth():.0f} GB/s")
    for size in (64, 128):
        ms, params = unet_step_ms(size)
        print(f"U-Net training step {size}^3 (fp32, {params} params): {ms:.2f} ms")
    for s in (128, 256):
        for name, ms in sampling_rows(s):
            print(f"grid_sample {s}^3 C=1 smooth, {name}: {ms * 1e3:.1f} us")
    json.dump(rows, sys.stderr)


if __name__ == "__main__":
    main()
