"""parity_resnet.py — PyTorch reference for engine/resnet.c (tests/test_parity_resnet.c).

usage: /usr/bin/python3 tests/parity_resnet.py OUTDIR [--no-full]

Writes OUTDIR/resnet.bin (tests/fixture.h format) and OUTDIR/resnet_weights.safetensors for a
ResNet-34 with all 34 layers but base width 4 (torchvision's BasicBlock, names and topology;
the script checks that at width 64 the same construction is exactly torchvision's resnet34).
Unless --no-full (used to regenerate the committed fixtures: `tests/parity_resnet.py
tests/fixtures/parity --no-full`), it also writes resnet_full.bin /
resnet_full_weights.safetensors, as `make parity` wants: the real
torchvision.models.resnet34 on 4×3×64×64 input (about 90 and 170 MB, never committed;
with 2 images some layer4 channels of this instance have near-zero batch variance and even
torch float32 disagrees with float64 by 4%: an ill-conditioned test, not a useful one).

The fixture holds: the input; eval-mode logits, features and parameter gradients; train-mode
logits and features; running statistics after the train-mode pass; parameter gradients of
    loss = sum(logits * dlogits) + sum(features * dfeatures)
after that pass (so both gradient entry points of resnet_backward are exercised); and the
parameters after one Adam step (lr 1e-3, betas 0.9/0.999, eps 1e-8) on those gradients.

PS_C_SAFETENSORS=FILE: also load FILE (a checkpoint the C side wrote, e.g. by running
build/tests/test_safetensors with the same variable) into torchvision's resnet34, strictly.

Safetensors is written by a 20-line pure-Python writer (Debian has no python3-safetensors):
8-byte little-endian header length, JSON header, raw little-endian data.
"""
import json
import os
import struct
import sys

import numpy as np
import torch
import torch.nn as nn
import torchvision
from torchvision.models.resnet import BasicBlock

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fixture  # noqa: E402

LAYERS = [3, 4, 6, 3]


class ResNetW(nn.Module):
    """torchvision's ResNet with BasicBlocks and a configurable base width."""

    def __init__(self, width, n_out):
        super().__init__()
        self.inplanes = width
        self.conv1 = nn.Conv2d(3, width, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(width, LAYERS[0], 1)
        self.layer2 = self._make_layer(width * 2, LAYERS[1], 2)
        self.layer3 = self._make_layer(width * 4, LAYERS[2], 2)
        self.layer4 = self._make_layer(width * 8, LAYERS[3], 2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(width * 8, n_out)

    def _make_layer(self, planes, blocks, stride):
        downsample = None
        if stride != 1 or self.inplanes != planes:
            downsample = nn.Sequential(
                nn.Conv2d(self.inplanes, planes, kernel_size=1, stride=stride, bias=False),
                nn.BatchNorm2d(planes))
        layers = [BasicBlock(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes
        for _ in range(1, blocks):
            layers.append(BasicBlock(self.inplanes, planes))
        return nn.Sequential(*layers)

    def features(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return torch.flatten(self.avgpool(x), 1)


def forward(model, x):
    if isinstance(model, ResNetW):
        f = model.features(x)
    else:  # torchvision.models.ResNet: same layers, stop before fc
        m = model
        h = m.maxpool(m.relu(m.bn1(m.conv1(x))))
        h = m.layer4(m.layer3(m.layer2(m.layer1(h))))
        f = torch.flatten(m.avgpool(h), 1)
    return model.fc(f), f


def save_safetensors(path, state):
    """state: ordered name -> tensor. int64 tensors stay I64, everything else F32."""
    header, blobs, off = {}, [], 0
    for name, t in state.items():
        a = t.detach().cpu().numpy()
        if a.dtype == np.int64:
            dt, raw = "I64", np.ascontiguousarray(a, dtype="<i8").tobytes()
        else:
            dt, raw = "F32", np.ascontiguousarray(a, dtype="<f4").tobytes()
        header[name] = {"dtype": dt, "shape": list(a.shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def load_safetensors(path):
    """The reader twin, for checking files written by the C side."""
    with open(path, "rb") as f:
        buf = f.read()
    (n,) = struct.unpack("<Q", buf[:8])
    header = json.loads(buf[8:8 + n])
    data = buf[8 + n:]
    out = {}
    for name, rec in header.items():
        if name == "__metadata__":
            continue
        b, e = rec["data_offsets"]
        dt = {"F32": "<f4", "I64": "<i8"}[rec["dtype"]]
        out[name] = torch.from_numpy(np.frombuffer(data[b:e], dtype=dt).reshape(rec["shape"]).copy())
    return out


def perturb_bn(model, gen):
    """Non-trivial batch-norm parameters and running statistics, so eval mode means something."""
    with torch.no_grad():
        for mod in model.modules():
            if isinstance(mod, nn.BatchNorm2d):
                c = mod.num_features
                mod.weight.copy_(1.0 + 0.2 * torch.randn(c, generator=gen))
                mod.bias.copy_(0.1 * torch.randn(c, generator=gen))
                mod.running_mean.copy_(0.1 * torch.randn(c, generator=gen))
                mod.running_var.copy_(1.0 + 0.3 * torch.rand(c, generator=gen))
                mod.num_batches_tracked.fill_(3)


def make(model, outdir, stem, batch, size, width, seed):
    gen = torch.Generator().manual_seed(seed)
    perturb_bn(model, gen)
    n_out = model.fc.out_features
    save_safetensors(os.path.join(outdir, stem + "_weights.safetensors"), model.state_dict())
    x = torch.randn(batch, 3, size, size, generator=gen)
    dlogits = torch.randn(batch, n_out, generator=gen)
    feat_dim = model.fc.in_features
    dfeat = 0.1 * torch.randn(batch, feat_dim, generator=gen)
    tensors = [("config", np.array(LAYERS + [width, 3, size, n_out, batch], dtype=np.float64)),
               ("x", x)]
    model.eval()
    lo, fe = forward(model, x)
    (lo * dlogits).sum().add_((fe * dfeat).sum()).backward()
    tensors += [("eval.logits", lo), ("eval.features", fe)]
    for name, p in model.named_parameters():
        tensors.append(("evalgrad." + name, p.grad))
    model.zero_grad(set_to_none=True)
    model.train()
    lo, fe = forward(model, x)
    (lo * dlogits).sum().add_((fe * dfeat).sum()).backward()
    tensors += [("train.logits", lo), ("train.features", fe), ("dlogits", dlogits),
                ("dfeatures", dfeat)]
    for name, b in model.named_buffers():
        tensors.append(("after." + name, b.float()))
    for name, p in model.named_parameters():
        tensors.append(("grad." + name, p.grad))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-8)
    opt.step()
    for name, p in model.named_parameters():
        tensors.append(("adam." + name, p))
    fixture.write(os.path.join(outdir, stem + ".bin"), tensors)


def main():
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    outdir = sys.argv[1]
    os.makedirs(outdir, exist_ok=True)
    torch.set_num_threads(2)
    torch.manual_seed(1234)
    # the construction is torchvision's resnet34 when the width is 64
    ref = torchvision.models.resnet34(num_classes=14).state_dict()
    ours = ResNetW(64, 14).state_dict()
    assert list(ref.keys()) == list(ours.keys())
    assert all(ref[k].shape == ours[k].shape for k in ref)
    make(ResNetW(4, 14), outdir, "resnet", 2, 64, 4, 7)
    if "--no-full" not in sys.argv[2:]:
        torch.manual_seed(99)
        make(torchvision.models.resnet34(num_classes=14), outdir, "resnet_full", 4, 64, 64, 11)
    # a checkpoint written by the C side (tests/test_safetensors.c) must load in torchvision
    c_file = os.environ.get("PS_C_SAFETENSORS")
    if c_file and os.path.exists(c_file):
        sd = load_safetensors(c_file)
        m = torchvision.models.resnet34(num_classes=14)
        m.load_state_dict(sd, strict=True)
        print("parity_resnet: %s loads into torchvision resnet34 (strict)" % c_file)
    return 0


if __name__ == "__main__":
    sys.exit(main())
