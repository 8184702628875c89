"""An independent, deliberately plain reference of the rosinality StyleGAN2 layout the
Météo-France prototype uses, written from the StyleGAN2 paper's equations for the tests:
per-sample loops, explicit zero insertion and true convolution (``upfirdn2d``).  It
reads the prototype's state dicts directly, so it shares no code with the importer.

Also builds random prototype checkpoints of any size, style dimension, mapping depth,
channel table and number of fields (random resampling kernels included).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

S2 = math.sqrt(2.0)


def upfirdn2d(x, k, up=1, down=1, pad=(0, 0)):  # noqa: ANN001, ANN201
    b, c, h, w = x.shape
    if up > 1:
        y = x.new_zeros(b, c, h * up, w * up)
        y[..., ::up, ::up] = x
        x = y
    x = F.pad(x, (pad[0], pad[1], pad[0], pad[1]))
    kernel = k.flip(0, 1)[None, None].expand(c, 1, *k.shape).to(x)
    return F.conv2d(x, kernel, groups=c)[..., ::down, ::down]


def _act(x, bias):  # noqa: ANN001, ANN202
    return F.leaky_relu(x + bias.view(1, -1, 1, 1), 0.2) * S2


def modconv(sd, name, x, w, demod=True, up=False):  # noqa: ANN001, ANN201
    weight = sd[f"{name}.conv.weight"][0]  # out, in, k, k
    out_ch, in_ch, k, _ = weight.shape
    style_dim = sd[f"{name}.conv.modulation.weight"].shape[1]
    s = F.linear(w, sd[f"{name}.conv.modulation.weight"] / math.sqrt(style_dim))
    s = s + sd[f"{name}.conv.modulation.bias"]
    outs = []
    for i in range(x.shape[0]):
        wi = weight / math.sqrt(in_ch * k * k) * s[i].view(1, -1, 1, 1)
        if demod:
            wi = wi * torch.rsqrt(wi.square().sum(dim=(1, 2, 3)) + 1e-8).view(-1, 1, 1, 1)
        xi = x[i : i + 1]
        if up:
            o = F.conv_transpose2d(xi, wi.transpose(0, 1), stride=2)
            o = upfirdn2d(o, sd[f"{name}.conv.blur.kernel"], pad=(1, 1))
        else:
            o = F.conv2d(xi, wi, padding=k // 2)
        outs.append(o)
    return torch.cat(outs)


def generate(sd, wplus, lr_mlp=0.01):  # noqa: ANN001, ANN201
    """Fields from W+ codes (n, n_latent, style_dim) with the stored noise maps."""
    levels = len([k for k in sd if k.startswith("to_rgbs.") and k.endswith(".conv.weight")])
    x = sd["input.input"].repeat(wplus.shape[0], 1, 1, 1)

    def styled(name, x, w, noise, up=False):  # noqa: ANN001, ANN202
        x = modconv(sd, name, x, w, up=up)
        x = x + sd[f"{name}.noise.weight"] * noise
        return _act(x, sd[f"{name}.activate.bias"])

    def to_rgb(name, x, w, skip):  # noqa: ANN001, ANN202
        out = modconv(sd, name, x, w, demod=False) + sd[f"{name}.bias"]
        if skip is not None:
            out = out + upfirdn2d(skip, sd[f"{name}.upsample.kernel"], up=2, pad=(2, 1))
        return out

    x = styled("conv1", x, wplus[:, 0], sd["noises.noise_0"])
    skip = to_rgb("to_rgb1", x, wplus[:, 1], None)
    i = 1
    for level in range(levels):
        x = styled(f"convs.{2 * level}", x, wplus[:, i], sd[f"noises.noise_{2 * level + 1}"], True)
        x = styled(
            f"convs.{2 * level + 1}", x, wplus[:, i + 1], sd[f"noises.noise_{2 * level + 2}"]
        )
        skip = to_rgb(f"to_rgbs.{level}", x, wplus[:, i + 2], skip)
        i += 2
    return skip


def mapping(sd, z, lr_mlp=0.01):  # noqa: ANN001, ANN201
    x = z * torch.rsqrt(z.square().mean(dim=1, keepdim=True) + 1e-8)
    i = 1
    while f"style.{i}.weight" in sd:
        wt = sd[f"style.{i}.weight"]
        x = F.linear(x, wt * lr_mlp / math.sqrt(wt.shape[1]))
        x = F.leaky_relu(x + sd[f"style.{i}.bias"] * lr_mlp, 0.2) * S2
        i += 1
    return x


def discriminate(sd, img):  # noqa: ANN001, ANN201
    def conv(prefix, x, k, down, bias_key, act=True):  # noqa: ANN001, ANN202
        wt = sd[f"{prefix}.weight"]
        scale = 1 / math.sqrt(wt.shape[1] * k * k)
        if down:
            p = 2 + (k - 1)
            x = upfirdn2d(x, sd[bias_key[0]], pad=((p + 1) // 2, p // 2))
            x = F.conv2d(x, wt * scale, stride=2)
        else:
            x = F.conv2d(x, wt * scale, padding=k // 2)
        return _act(x, sd[bias_key[1]]) if act else x

    x = _act(F.conv2d(img, sd["convs.0.0.weight"] / math.sqrt(img.shape[1])), sd["convs.0.1.bias"])
    j = 1
    while f"convs.{j}.conv1.0.weight" in sd:
        p = f"convs.{j}"
        y = conv(f"{p}.conv1.0", x, 3, False, (None, f"{p}.conv1.1.bias"))
        y = conv(f"{p}.conv2.1", y, 3, True, (f"{p}.conv2.0.kernel", f"{p}.conv2.2.bias"))
        s = conv(f"{p}.skip.1", x, 1, True, (f"{p}.skip.0.kernel", None), act=False)
        x = (y + s) / S2
        j += 1
    b, c, h, w = x.shape
    g = min(b, 4)
    y = x.view(g, -1, 1, c, h, w)
    y = torch.sqrt(y.var(0, unbiased=False) + 1e-8).mean(dim=(2, 3, 4), keepdim=True).squeeze(2)
    x = torch.cat([x, y.repeat(g, 1, h, w)], 1)
    x = conv("final_conv.0", x, 3, False, (None, "final_conv.1.bias"))
    x = x.flatten(1)
    wt = sd["final_linear.0.weight"]
    x = F.leaky_relu(F.linear(x, wt / math.sqrt(wt.shape[1])) + sd["final_linear.0.bias"], 0.2)
    x = x * S2
    wt = sd["final_linear.1.weight"]
    return F.linear(x, wt / math.sqrt(wt.shape[1])) + sd["final_linear.1.bias"]


def random_checkpoint(
    size: int, style_dim: int, n_mlp: int, channels: dict[int, int], nb_var: int, seed: int = 0
) -> dict:
    """A prototype-format checkpoint dict with random weights, noise maps and kernels."""
    gen = torch.Generator().manual_seed(seed)

    def r(*shape):  # noqa: ANN002, ANN202
        return torch.randn(*shape, generator=gen)

    def g_state() -> dict:
        sd = {}
        for i in range(1, n_mlp + 1):
            sd[f"style.{i}.weight"], sd[f"style.{i}.bias"] = r(style_dim, style_dim), r(style_dim)
        c4 = channels[4]
        sd["input.input"] = r(1, c4, 4, 4)

        def styled(name, cin, cout, up):  # noqa: ANN001, ANN202
            sd[f"{name}.conv.weight"] = r(1, cout, cin, 3, 3)
            sd[f"{name}.conv.modulation.weight"] = r(cin, style_dim)
            sd[f"{name}.conv.modulation.bias"] = r(cin) * 0.1 + 1
            sd[f"{name}.noise.weight"] = r(1)
            sd[f"{name}.activate.bias"] = r(cout)
            if up:
                sd[f"{name}.conv.blur.kernel"] = r(4, 4)

        def rgb(name, cin, up):  # noqa: ANN001, ANN202
            sd[f"{name}.bias"] = r(1, nb_var, 1, 1)
            sd[f"{name}.conv.weight"] = r(1, nb_var, cin, 1, 1)
            sd[f"{name}.conv.modulation.weight"] = r(cin, style_dim)
            sd[f"{name}.conv.modulation.bias"] = r(cin) * 0.1 + 1
            if up:
                sd[f"{name}.upsample.kernel"] = r(4, 4)

        styled("conv1", c4, c4, False)
        rgb("to_rgb1", c4, False)
        levels = int(math.log2(size)) - 2
        cin = c4
        for lv in range(levels):
            cout = channels[8 * 2**lv]
            styled(f"convs.{2 * lv}", cin, cout, True)
            styled(f"convs.{2 * lv + 1}", cout, cout, False)
            rgb(f"to_rgbs.{lv}", cout, True)
            cin = cout
        sd["noises.noise_0"] = r(1, 1, 4, 4)
        for lv in range(levels):
            res = 8 * 2**lv
            sd[f"noises.noise_{2 * lv + 1}"] = r(1, 1, res, res)
            sd[f"noises.noise_{2 * lv + 2}"] = r(1, 1, res, res)
        return sd

    def d_state() -> dict:
        sd = {
            "convs.0.0.weight": r(channels[size], nb_var, 1, 1),
            "convs.0.1.bias": r(channels[size]),
        }
        cin, j = channels[size], 1
        res = size
        while res > 4:
            cout = channels[res // 2]
            p = f"convs.{j}"
            sd[f"{p}.conv1.0.weight"], sd[f"{p}.conv1.1.bias"] = r(cin, cin, 3, 3), r(cin)
            sd[f"{p}.conv2.0.kernel"] = r(4, 4)
            sd[f"{p}.conv2.1.weight"], sd[f"{p}.conv2.2.bias"] = r(cout, cin, 3, 3), r(cout)
            sd[f"{p}.skip.0.kernel"] = r(4, 4)
            sd[f"{p}.skip.1.weight"] = r(cout, cin, 1, 1)
            cin, j, res = cout, j + 1, res // 2
        c4 = channels[4]
        sd["final_conv.0.weight"], sd["final_conv.1.bias"] = r(c4, c4 + 1, 3, 3), r(c4)
        sd["final_linear.0.weight"], sd["final_linear.0.bias"] = r(c4, c4 * 16), r(c4)
        sd["final_linear.1.weight"], sd["final_linear.1.bias"] = r(1, c4), r(1)
        return sd

    return {"g": g_state(), "d": d_state(), "g_ema": g_state(), "g_optim": {}, "d_optim": {}}
