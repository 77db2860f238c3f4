"""Speed and memory of the cervix models against their peers, side by side in one process.

Segmentation: :class:`cervix.models.networks.DualHeadAttConvNeXtUNet` vs
``segmentation_models_pytorch.Unet("tu-<encoder>", decoder_attention_type="scse", classes=2)``.
Classification: :class:`cervix.models.networks.ConvNeXtAttentionClassifier` (5 channels) vs plain
``timm.create_model(<encoder>, num_classes=5, in_chans=5)``.

For each task, input size, precision (fp32, bf16 autocast) and mode (train = forward + loss +
backward + AdamW step; infer = eval forward under ``torch.inference_mode``) the two models are
timed alternately (ours, peer, ours, ...) after warm-up, so background load hits both alike;
the median step time gives images/s. Memory is the peak above the resting state during one
step (activations, gradients, workspaces; weights and optimiser state are resident before the
step and excluded): on CUDA from ``torch.cuda.max_memory_allocated``, on CPU from the process
RSS sampled every 2 ms by a thread (``tracemalloc`` does not see torch's allocator); for that
one step glibc is told to map blocks >= 64 KiB separately and return them at once, so RSS follows
torch's allocations (timed steps run with glibc's steady-state thresholds instead, since mapping
every block costs page faults).

Usage::

    python benchmarks/bench_models.py --quick              # 256 px only, few repeats
    python benchmarks/bench_models.py --device cuda --batch 8 --sizes 256 512 1024
    python benchmarks/bench_models.py --tiny --out /tmp/b  # a check that it runs (seconds)

``segmentation_models_pytorch`` is a benchmark-only extra (``pip install -e .[bench]``).
Results: a table on stdout (ratios ours / peer; > 1 means ours is faster) and JSON under
``benchmarks/results/``.
"""

from __future__ import annotations

import argparse
import ctypes
import datetime as _dt
import gc
import json
import os
import platform
import statistics
import sys
import threading
import time
from contextlib import nullcontext
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tinyargs import parse_args_tiny  # noqa: E402  (beside this script)

from cervix.losses.dice import DualHeadLoss  # noqa: E402
from cervix.models.networks import ConvNeXtAttentionClassifier, DualHeadAttConvNeXtUNet, count_parameters  # noqa: E402

MiB = 2**20
# --tiny: defaults for a check that the script runs (seconds); flags given explicitly win
TINY = dict(
    encoder="convnext_atto", sizes=[32], cls_size=32, precisions=["bf16"], repeats=1, warmup=0, threads=1, device="cpu"
)


# ---------------------------------------------------------------------------------- memory
_LIBC = None


def _mallopt(mmap_threshold: int, trim_threshold: int) -> None:
    """Set glibc's mmap/trim thresholds (no-op off glibc)."""
    global _LIBC
    try:
        _LIBC = _LIBC or ctypes.CDLL("libc.so.6")
        _LIBC.mallopt(-3, mmap_threshold)  # M_MMAP_THRESHOLD (fixed: disables its dynamic growth)
        _LIBC.mallopt(-1, trim_threshold)  # M_TRIM_THRESHOLD
    except (OSError, AttributeError):
        pass


def _malloc_for_timing() -> None:
    """Steady-state glibc behaviour (what its dynamic threshold grows to): big blocks reused, not unmapped."""
    _mallopt(32 * MiB, 64 * MiB)


def _malloc_for_memory() -> None:
    """Blocks >= 64 KiB via mmap and free memory trimmed, so RSS follows live allocations."""
    _mallopt(64 * 1024, 128 * 1024)
    try:
        _LIBC.malloc_trim(0)
    except (AttributeError, OSError):
        pass


def _rss() -> int:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        import psutil

        return psutil.Process().memory_info().rss


class PeakMemory:
    """Peak memory above the level at entry, on CUDA (allocator stats) or CPU (sampled RSS)."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.peak = 0

    def __enter__(self) -> PeakMemory:
        gc.collect()
        if self.device.type == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            self.base = torch.cuda.memory_allocated()
        else:
            self.base = _rss()
            self.max = self.base
            self._stop = threading.Event()
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.max = max(self.max, _rss())
            time.sleep(0.002)

    def __exit__(self, *exc) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize()
            self.peak = torch.cuda.max_memory_allocated() - self.base
        else:
            self._stop.set()
            self._thread.join()
            self.peak = max(self.max, _rss()) - self.base


# ---------------------------------------------------------------------------------- steps
def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def _autocast(device: torch.device, precision: str):
    if precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return nullcontext()


class Case:
    """One model with its input, loss and optimiser; ``step()`` runs one timed iteration."""

    def __init__(self, model, x, y, loss_fn, mode: str, precision: str, device: torch.device, channels_last: bool):
        self.model = model.to(device)
        if channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
            x = x.contiguous(memory_format=torch.channels_last)
        self.x, self.y, self.loss_fn = x.to(device), y.to(device), loss_fn
        self.mode, self.precision, self.device = mode, precision, device
        if mode == "train":
            self.model.train()
            self.opt = torch.optim.AdamW(self.model.parameters(), lr=1e-4)
        else:
            self.model.eval()

    def step(self) -> None:
        if self.mode == "train":
            with _autocast(self.device, self.precision):
                out = self.model(self.x)
            loss = self.loss_fn(out.float(), self.y)
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            self.opt.step()
        else:
            with torch.inference_mode(), _autocast(self.device, self.precision):
                self.model(self.x)
        _sync(self.device)

    def timed(self) -> tuple[float, float]:
        """(wall seconds, process CPU seconds) of one step."""
        t0, c0 = time.perf_counter(), time.process_time()
        self.step()
        return time.perf_counter() - t0, time.process_time() - c0

    def memory(self) -> int:
        if self.device.type == "cpu":
            _malloc_for_memory()
        try:
            with PeakMemory(self.device) as pm:
                self.step()
        finally:
            if self.device.type == "cpu":
                _malloc_for_timing()
        return pm.peak


def _seg_loss():
    loss = DualHeadLoss()
    return lambda out, y: loss(out, y)[0]


def build(task: str, who: str, encoder: str):
    if task == "seg":
        if who == "ours":
            return DualHeadAttConvNeXtUNet(encoder)
        import segmentation_models_pytorch as smp

        return smp.Unet(f"tu-{encoder}", decoder_attention_type="scse", classes=2, encoder_weights=None)
    if who == "ours":
        return ConvNeXtAttentionClassifier(encoder, num_classes=5, in_chans=5)
    import timm

    return timm.create_model(encoder, num_classes=5, in_chans=5)


def run_pair(task, size, mode, precision, args, device) -> dict:
    torch.manual_seed(0)
    b = args.batch
    if task == "seg":
        x = torch.randn(b, 3, size, size)
        y = (torch.rand(b, 2, size, size) > 0.5).float()
        loss_fn = _seg_loss()
    else:
        x = torch.randn(b, 5, size, size)
        y = torch.randint(0, 5, (b,))
        loss_fn = F.cross_entropy
    cases = {
        who: Case(build(task, who, args.encoder), x, y, loss_fn, mode, precision, device, args.channels_last)
        for who in ("ours", "peer")
    }
    for _ in range(args.warmup):
        for c in cases.values():
            c.step()
    times = {who: [] for who in cases}
    cpu = {who: [] for who in cases}
    for _ in range(args.repeats):  # alternate so drifting background load hits both
        for who, c in cases.items():
            wall, cpu_s = c.timed()
            times[who].append(wall)
            cpu[who].append(cpu_s)
    row = dict(task=task, size=size, mode=mode, precision=precision, batch=b)
    for who, c in cases.items():
        med = statistics.median(times[who])
        row[who] = dict(
            images_per_s=b / med,
            median_step_s=med,
            step_times_s=times[who],
            median_cpu_step_s=statistics.median(cpu[who]),
            peak_step_mib=c.memory() / MiB,
            params=count_parameters(c.model),
        )
    row["speed_ratio"] = row["ours"]["images_per_s"] / row["peer"]["images_per_s"]
    row["cpu_time_ratio"] = row["peer"]["median_cpu_step_s"] / max(row["ours"]["median_cpu_step_s"], 1e-12)
    row["memory_ratio"] = row["ours"]["peak_step_mib"] / max(row["peer"]["peak_step_mib"], 1e-9)
    del cases
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return row


def format_table(rows: list[dict]) -> str:
    head = (
        "task",
        "size",
        "prec",
        "mode",
        "ours img/s",
        "peer img/s",
        "speed ours/peer",
        "cpu-time peer/ours",
        "ours MiB",
        "peer MiB",
        "mem ours/peer",
    )
    lines = [head]
    for r in rows:
        lines.append(
            (
                {"seg": "segmentation", "cls": "classification"}[r["task"]],
                str(r["size"]),
                r["precision"],
                r["mode"],
                f"{r['ours']['images_per_s']:.2f}",
                f"{r['peer']['images_per_s']:.2f}",
                f"{r['speed_ratio']:.2f}",
                f"{r['cpu_time_ratio']:.2f}",
                f"{r['ours']['peak_step_mib']:.0f}",
                f"{r['peer']['peak_step_mib']:.0f}",
                f"{r['memory_ratio']:.2f}",
            )
        )
    widths = [max(len(row[i]) for row in lines) for i in range(len(head))]
    out = ["| " + " | ".join(c.ljust(w) for c, w in zip(row, widths)) + " |" for row in lines]
    out.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(out)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--encoder", default="convnext_tiny", help="timm backbone for all four models")
    p.add_argument("--batch", type=int, default=2, help="images per step")
    p.add_argument("--repeats", type=int, default=5, help="timed steps per model (median reported)")
    p.add_argument("--warmup", type=int, default=2, help="untimed steps per model first")
    p.add_argument("--sizes", type=int, nargs="+", default=[256, 512], help="segmentation input sizes")
    p.add_argument("--cls-size", type=int, default=256, help="classification input size")
    p.add_argument("--precisions", nargs="+", default=["fp32", "bf16"], choices=["fp32", "bf16"])
    p.add_argument("--modes", nargs="+", default=["train", "infer"], choices=["train", "infer"])
    p.add_argument("--tasks", nargs="+", default=["seg", "cls"], choices=["seg", "cls"])
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu", choices=["cpu", "cuda"])
    p.add_argument("--channels-last", action="store_true", help="run every model in channels_last memory format")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--quick", action="store_true", help="256 px only, 3 repeats, 1 warm-up")
    p.add_argument("--out", type=Path, help="folder for the JSON (default: benchmarks/results)")
    p.add_argument("--note", default="", help="free text stored in the JSON (e.g. 'CPU shared with other jobs')")
    args = parse_args_tiny(p, argv, TINY, "convnext_atto, 32 px, bf16, 1 repeat, 1 thread, CPU")
    args.out = args.out or ROOT / "benchmarks" / "results"
    if args.batch < 2 and "train" in args.modes:
        p.error("--batch must be >= 2 for training (the classifier head has BatchNorm after pooling)")
    if args.quick:
        args.sizes, args.repeats, args.warmup = [256], min(args.repeats, 3), 1
    return args


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if device.type == "cpu":
        _malloc_for_timing()
    else:
        torch.backends.cudnn.benchmark = True

    plan = []
    for task in args.tasks:
        for size in args.sizes if task == "seg" else [args.cls_size]:
            for precision in args.precisions:
                for mode in args.modes:
                    plan.append((task, size, mode, precision))
    rows = []
    for i, (task, size, mode, precision) in enumerate(plan, 1):
        t0 = time.perf_counter()
        rows.append(run_pair(task, size, mode, precision, args, device))
        r = rows[-1]
        print(
            f"[{i}/{len(plan)}] {task} {size}px {precision} {mode}: ours {r['ours']['images_per_s']:.2f} img/s, "
            f"peer {r['peer']['images_per_s']:.2f} img/s (x{r['speed_ratio']:.2f}) "
            f"[{time.perf_counter() - t0:.0f} s]",
            flush=True,
        )

    import timm

    meta = dict(
        date=_dt.datetime.now().isoformat(timespec="seconds"),
        device=torch.cuda.get_device_name() if device.type == "cuda" else platform.processor() or platform.machine(),
        cpu_count=os.cpu_count(),
        torch_threads=torch.get_num_threads(),
        torch=torch.__version__,
        timm=timm.__version__,
        python=platform.python_version(),
        args={k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        peers={
            "seg": f"smp.Unet('tu-{args.encoder}', decoder_attention_type='scse', classes=2)",
            "cls": f"timm.create_model('{args.encoder}', num_classes=5, in_chans=5)",
        },
        memory="peak above resting state during one step (activations, grads, workspaces), MiB",
    )
    try:
        import segmentation_models_pytorch as smp

        meta["smp"] = smp.__version__
    except ImportError:
        pass
    table = format_table(rows)
    print(
        f"\n{args.encoder}, batch {args.batch}, {device.type} ({meta['device']}), {meta['torch_threads']} threads, "
        f"median of {args.repeats}\n{table}"
    )
    args.out.mkdir(parents=True, exist_ok=True)
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    path = args.out / f"bench_models_{device.type}_{args.encoder}_{stamp}.json"
    result = dict(meta=meta, results=rows, table=table)
    path.write_text(json.dumps(result, indent=2))
    print(f"wrote {path}")
    return result


if __name__ == "__main__":
    main()
