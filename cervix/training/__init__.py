"""The training loop and what it needs: optimiser, sampling and seeds, DDP, checkpoints, run folders."""

from cervix.training.checkpoints import (
    CHECKPOINT_FORMAT,
    CheckpointError,
    check_plain,
    library_versions,
    load_checkpoint,
    load_run_model,
    load_weights,
    model_from_checkpoint,
    save_checkpoint,
)
from cervix.training.distributed import broadcast, cleanup_distributed, ddp_active, is_main_process, setup_distributed
from cervix.training.history import History, stopping_signal
from cervix.training.loop import NonFiniteLossError, fit
from cervix.training.optim import adamw_warmup_cosine, param_groups, warmup_cosine_lambda
from cervix.training.rundir import (
    RUN_FILES,
    RUN_PATTERNS,
    RunExistsError,
    TrainResult,
    fold_dirs,
    prepare_output_dir,
    prepare_run_dir,
    resolve_checkpoint,
    run_files,
    run_split_path,
    write_metrics,
)
from cervix.training.sampling import (
    EpochSampler,
    make_loader,
    rng_state,
    seed_everything,
    set_loader_epoch,
    set_rng_state,
)

__all__ = [
    "CHECKPOINT_FORMAT",
    "CheckpointError",
    "check_plain",
    "save_checkpoint",
    "load_checkpoint",
    "model_from_checkpoint",
    "load_run_model",
    "load_weights",
    "library_versions",
    "setup_distributed",
    "cleanup_distributed",
    "ddp_active",
    "is_main_process",
    "broadcast",
    "History",
    "stopping_signal",
    "NonFiniteLossError",
    "fit",
    "param_groups",
    "warmup_cosine_lambda",
    "adamw_warmup_cosine",
    "RUN_FILES",
    "RUN_PATTERNS",
    "run_files",
    "prepare_run_dir",
    "prepare_output_dir",
    "run_split_path",
    "RunExistsError",
    "TrainResult",
    "resolve_checkpoint",
    "fold_dirs",
    "write_metrics",
    "seed_everything",
    "rng_state",
    "set_rng_state",
    "EpochSampler",
    "make_loader",
    "set_loader_epoch",
]
