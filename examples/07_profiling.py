# %% [markdown]
# # Profiling a model
#
# `nncore.profiler.profile()` records every native kernel (its time, FLOPs and bytes, as the C++
# side counts them) and every autograd op's forward and backward, nested by time. Here: a few
# training steps of a small CNN, the summary table, the ops as data, and the Chrome trace JSON
# that Perfetto (https://ui.perfetto.dev) or chrome://tracing open. Without a browser, the last
# cell draws the trace file's timeline with matplotlib.
#
# Outputs go to `$NNCORE_EXAMPLE_OUT` (default `example-output/`). `NNCORE_EXAMPLE_QUICK=1`
# profiles fewer, smaller steps.

# %%
import json
import os
from pathlib import Path

import nncore as torch
import nncore.nn as nn
from nncore.data import datasets
from nncore.profiler import profile

QUICK = os.environ.get("NNCORE_EXAMPLE_QUICK", "0") == "1"
OUT = Path(os.environ.get("NNCORE_EXAMPLE_OUT", "example-output")) / "profiling"
OUT.mkdir(parents=True, exist_ok=True)
torch.manual_seed(0)

batch = 32 if QUICK else 128
mnist = datasets.MNIST(train=True)
x = torch.from_numpy(mnist.data[:batch])
y = torch.from_numpy(mnist.targets[:batch])

model = nn.Sequential(
    nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
    nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
    nn.Flatten(), nn.Linear(32 * 7 * 7, 10),
)
optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
loss_fn = nn.CrossEntropyLoss()


def train_step():
    loss = loss_fn(model(x), y)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss


# %% [markdown]
# ## Record
#
# Warm up first: the first steps pay one-off costs (allocation, thread start-up) a steady state
# never sees. `record_shapes=True` keeps each op's input shapes (for `group_by_shape`).

# %%
for _ in range(2):
    train_step()
steps = 2 if QUICK else 5
with profile(record_shapes=True) as prof:
    for _ in range(steps):
        train_step()

# %% [markdown]
# ## The table
#
# `prof.table()` returns the text (as PyTorch's `prof.key_averages().table()`): calls, total,
# mean and self time, and for native kernels GFLOP/s and GB/s with their share of this
# machine's measured peak (`nncore bench peak`).

# %%
print(prof.table(sort_by="total", row_limit=12))

# %% [markdown]
# The same rows as data, e.g. the share of time in the convolution kernels:

# %%
rows = prof.summary()
native = [r for r in rows if r["kind"] == "native"]
native_ms = sum(r["total_ms"] for r in native)
conv_ms = sum(r["total_ms"] for r in native if r["name"].startswith("conv2d"))
print(f"native kernels: {native_ms:.2f} ms over {steps} steps, of which conv2d "
      f"{100 * conv_ms / native_ms:.0f}%")
print(prof.table(group_by_shape=True, row_limit=5))

# %% [markdown]
# ## The trace
#
# `export_chrome_trace` writes Chrome's trace-event JSON: one "X" event per op with its start,
# duration, thread, shapes and FLOPs. Open it in https://ui.perfetto.dev (drag the file in).

# %%
trace_path = OUT / "trace.json"
prof.export_chrome_trace(trace_path)
with open(trace_path) as f:
    trace = json.load(f)["traceEvents"]
spans = [e for e in trace if e["ph"] == "X"]
print(f"{trace_path}: {len(spans)} events")

# %% [markdown]
# ## The timeline, drawn from the trace file
#
# A stand-in for Perfetto's view when there is no browser: one row per nesting level (autograd
# ops above, the native kernels they call below), bars placed by the events' `ts` and `dur`.


# %%
def draw_timeline(events, path, first_step_only=True):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    events = sorted(events, key=lambda e: (e["tid"], e["ts"], -e["dur"]))
    depth, stack = {}, []
    for i, e in enumerate(events):  # nesting level: how many open events contain this one
        while stack and (events[stack[-1]]["tid"] != e["tid"]
                         or events[stack[-1]]["ts"] + events[stack[-1]]["dur"] <= e["ts"]):
            stack.pop()
        depth[i] = len(stack)
        stack.append(i)
    if first_step_only:  # up to the first optimizer step's end
        end = next((e["ts"] + e["dur"] for e in events if e["name"].startswith("sgd")), None)
        keep = [i for i, e in enumerate(events) if end is None or e["ts"] <= end]
    else:
        keep = list(range(len(events)))
    t0 = min(events[i]["ts"] for i in keep)
    colours = {"autograd": "#4c72b0", "native": "#dd8452"}
    fig, ax = plt.subplots(figsize=(12, 3.2), dpi=110)
    for i in keep:
        e = events[i]
        ax.broken_barh([(e["ts"] - t0, e["dur"])], (-depth[i] - 0.4, 0.8),
                       facecolors=colours.get(e["cat"], "grey"), edgecolor="white", lw=0.3)
    span = max(events[i]["ts"] + events[i]["dur"] for i in keep) - t0
    for i in keep:  # label the bars wide enough to hold their name
        e = events[i]
        if e["dur"] > span * (len(e["name"]) + 2) / 220:
            ax.text(e["ts"] - t0 + e["dur"] / 2, -depth[i], e["name"], ha="center",
                    va="center", fontsize=7, color="white", clip_on=True)
    levels = max(depth[i] for i in keep) + 1
    ax.set_yticks([-d for d in range(levels)], [f"level {d}" for d in range(levels)])
    ax.set_xlabel("time (us) from the first event")
    ax.set_title(f"One training step (forward, backward, SGD step) drawn from "
                 f"{trace_path.name} (blue: autograd ops, orange: native kernels)", fontsize=9)
    ax.set_xlim(0, span)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


draw_timeline(spans, OUT / "timeline.png")
print(f"timeline drawn in {OUT / 'timeline.png'}")

# %%
print(f"RESULT events={len(spans)} native_ms={native_ms:.2f} conv_share={conv_ms / native_ms:.2f}")
