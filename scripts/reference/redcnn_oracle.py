#!/usr/bin/env python3
"""Reference oracle for LowDoseCT's RED-CNN: the same network in PyTorch, fixed seeds.

Writes, next to this script:
  redcnn_oracle.safetensors  input, target, every saved activation, output, MSE loss, every
                             parameter before and after one Adam step, every gradient
  redcnn_state_dict.safetensors  the model's state_dict as a PyTorch user would export it
                             (safetensors.torch.save_file), to prove such files load unchanged

Requirements (CPU is enough):
  python3 -m venv /opt/ldct-ref && /opt/ldct-ref/bin/pip install "torch==2.13.0+cpu" numpy safetensors
Run:
  /opt/ldct-ref/bin/python scripts/reference/redcnn_oracle.py
Re-running regenerates the same numbers (seeded; single-threaded for determinism).
"""
import os
import torch
import torch.nn as nn
from safetensors.torch import save_file

HERE = os.path.dirname(os.path.abspath(__file__))
WIDTH = 6            # small width: fast, same structure as 96
SEED = 1234
LR = 1e-3
BATCH, H, W = 2, 25, 23   # non-square, just above the 21×21 minimum


class REDCNN(nn.Module):
    """RED-CNN as released by Chen et al. (2017), in the names of the common PyTorch port.

    in_channels=2 is LowDoseCT's noise-level variant (`ldct train --noise-channel`): channel 1 holds the
    slice's blind noise level (Sources/Denoising/NoiseLevel.swift: sigma / 25 HU in every pixel) and
    the global shortcut adds channel 0, the slice, only. in_channels=1 is the paper's network.
    """

    def __init__(self, width=96, final_relu=True, in_channels=1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, width, 5, stride=1, padding=0)
        self.conv2 = nn.Conv2d(width, width, 5, stride=1, padding=0)
        self.conv3 = nn.Conv2d(width, width, 5, stride=1, padding=0)
        self.conv4 = nn.Conv2d(width, width, 5, stride=1, padding=0)
        self.conv5 = nn.Conv2d(width, width, 5, stride=1, padding=0)
        self.tconv1 = nn.ConvTranspose2d(width, width, 5, stride=1, padding=0)
        self.tconv2 = nn.ConvTranspose2d(width, width, 5, stride=1, padding=0)
        self.tconv3 = nn.ConvTranspose2d(width, width, 5, stride=1, padding=0)
        self.tconv4 = nn.ConvTranspose2d(width, width, 5, stride=1, padding=0)
        self.tconv5 = nn.ConvTranspose2d(width, 1, 5, stride=1, padding=0)
        self.relu = nn.ReLU()
        self.final_relu = final_relu

    def forward(self, x, saved=None):
        def keep(name, t):
            if saved is not None:
                saved[name] = t
            return t
        keep("x", x)
        a1 = keep("a1", self.relu(self.conv1(x)))
        a2 = keep("a2", self.relu(self.conv2(a1)))
        a3 = keep("a3", self.relu(self.conv3(a2)))
        a4 = keep("a4", self.relu(self.conv4(a3)))
        a5 = keep("a5", self.relu(self.conv5(a4)))
        b1 = keep("b1", self.relu(self.tconv1(a5) + a4))
        b2 = keep("b2", self.relu(self.tconv2(b1)))
        b3 = keep("b3", self.relu(self.tconv3(b2) + a2))
        b4 = keep("b4", self.relu(self.tconv4(b3)))
        y = self.tconv5(b4) + x[:, :1]
        if self.final_relu:
            y = self.relu(y)
        return keep("y", y)


def main():
    torch.manual_seed(SEED)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    model = REDCNN(WIDTH).float()
    # Inputs in the network's range: (HU + 1024) / 4096 of a noisy soft-tissue-and-air scene.
    x = (torch.rand(BATCH, 1, H, W) * 0.4 + 0.1).float()
    target = (x + 0.02 * torch.randn(BATCH, 1, H, W)).float()

    out = {}
    out["input"] = x.clone()
    out["target"] = target.clone()
    for name, p in model.state_dict().items():
        out["param/" + name] = p.clone()

    saved = {}
    y = model(x, saved)
    loss = nn.functional.mse_loss(y, target)
    optim = torch.optim.Adam(model.parameters(), lr=LR)
    optim.zero_grad()
    loss.backward()
    for name, t in saved.items():
        out["act/" + name] = t.detach().clone()
    out["loss"] = loss.detach().reshape(1).clone()
    for name, p in model.named_parameters():
        out["grad/" + name] = p.grad.detach().clone()
    optim.step()
    for name, p in model.named_parameters():
        out["adam1/" + name] = p.detach().clone()

    meta = {
        "generator": "scripts/reference/redcnn_oracle.py",
        "torch": torch.__version__,
        "seed": str(SEED),
        "width": str(WIDTH),
        "lr": repr(LR),
        "adam": "torch.optim.Adam defaults (betas 0.9/0.999, eps 1e-8, no weight decay)",
        "loss": "mse_loss(reduction='mean')",
    }
    save_file({k: v.contiguous() for k, v in out.items()}, os.path.join(HERE, "redcnn_oracle.safetensors"), metadata=meta)

    # A state_dict exported the way a PyTorch user would, from a fresh model with another seed.
    torch.manual_seed(SEED + 1)
    exported = REDCNN(WIDTH)
    with torch.no_grad():
        y2 = exported(x)
    save_file({k: v.contiguous() for k, v in exported.state_dict().items()},
              os.path.join(HERE, "redcnn_state_dict.safetensors"),
              metadata={"note": "plain state_dict from scripts/reference/redcnn_oracle.py", "seed": str(SEED + 1)})
    save_file({"input": x.contiguous(), "output": y2.contiguous()}, os.path.join(HERE, "redcnn_state_dict_io.safetensors"),
              metadata={"note": "input and PyTorch output of redcnn_state_dict.safetensors"})
    print(f"loss {loss.item():.8f}; wrote oracle fixtures to {HERE}")


if __name__ == "__main__":
    main()
