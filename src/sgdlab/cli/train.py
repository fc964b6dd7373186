"""``sgdlab train``: the main job, minibatch SGD (or full GD) with a per-epoch table."""

from __future__ import annotations

import argparse
import json

from sgdlab.cli.common import (
    IMAGE_SUFFIXES,
    emit_json,
    load_data,
    momentum_float,
    nonneg_float,
    nonneg_int,
    positive_float,
    positive_int,
    writable_file,
)
from sgdlab.cli.configfile import defer_defaults, resolve


def register(sub, parents) -> None:
    p = sub.add_parser(
        "train",
        parents=parents,
        help="train the classifier (main job)",
        description="Train y = softmax(z(x)) on Fashion-MNIST by minibatch SGD: each epoch a "
        "fresh random partition of the training set into minibatches (without replacement), "
        "one step (W,b) -= lr * grad C_minibatch per minibatch. Prints a per-epoch table and "
        "the final test accuracy. Defaults reach ~83% test accuracy after 1 epoch, ~84% after 5.",
    )
    p.add_argument(
        "--batch-size",
        "-b",
        type=positive_int,
        default=16,
        help="minibatch size B in 1..N (default 16)",
    )
    p.add_argument("--epochs", "-e", type=positive_int, default=5, help="passes over the data (5)")
    p.add_argument(
        "--lr", type=positive_float, default=0.005, help="constant step size α (default 0.005)"
    )
    p.add_argument(
        "--method",
        choices=("sgd", "gd"),
        default="sgd",
        help="sgd: minibatch steps; gd: one full-gradient step per epoch",
    )
    p.add_argument(
        "--engine",
        default="auto",
        help="reference (autograd) or a fast engine; auto picks the fastest (default)",
    )
    p.add_argument("--device", default="auto", help="cpu, cuda or auto (default auto)")
    p.add_argument("--init", choices=("zeros", "uniform"), default="zeros")
    p.add_argument(
        "--threads",
        type=positive_int,
        default=None,
        help="torch and numba threads (default: all cores, or NUMBA_NUM_THREADS / "
        "OMP_NUM_THREADS); 1 for one process per core in a sweep. The fast "
        "engine's results are bitwise the same for any count",
    )
    p.add_argument(
        "--config",
        metavar="FILE.toml",
        help="read option values from a TOML file (keys: long option names, e.g. "
        "batch-size = 16 or batch_size = 16); flags on the command line win",
    )
    o = p.add_argument_group("the update: torch.optim.SGD (dampening 0) and averaging")
    o.add_argument(
        "--momentum",
        type=momentum_float,
        default=0.0,
        help="momentum μ in [0, 1) (default 0: the chapter's plain SGD)",
    )
    o.add_argument(
        "--nesterov",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="Nesterov momentum (needs --momentum > 0)",
    )
    o.add_argument(
        "--weight-decay",
        type=nonneg_float,
        default=0.0,
        help="L2 weight decay λ ≥ 0 added to the gradient of z.weight and z.bias",
    )
    o.add_argument(
        "--average",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="Polyak-Ruppert: evaluate (and return) the mean of each epoch's iterates",
    )
    s_ = p.add_argument_group("learning-rate schedule (steps counted across epochs)")
    s_.add_argument(
        "--schedule",
        choices=SCHEDULES,
        default="constant",
        help="constant (default); step: lr*gamma every --step-epochs epochs; "
        "cosine: PyTorch's CosineAnnealingLR over all steps; inverse: lr/(1+t/t0)",
    )
    s_.add_argument(
        "--gamma", type=positive_float, default=0.1, help="step schedule factor (> 0, default 0.1)"
    )
    s_.add_argument(
        "--step-epochs",
        type=positive_int,
        default=1,
        help="step schedule period in epochs (default 1)",
    )
    s_.add_argument(
        "--t0",
        type=positive_float,
        default=1000.0,
        help="inverse schedule time scale in steps (default 1000)",
    )
    v = p.add_argument_group("validation (held out of the training set)")
    v.add_argument(
        "--validation",
        type=nonneg_int,
        default=0,
        metavar="N",
        help="hold out N training samples; the history gains val_cost, val_accuracy",
    )
    v.add_argument(
        "--validation-seed",
        type=nonneg_int,
        default=0,
        help="seed of the split, independent of --seed so every training seed is "
        "validated on the same samples (default 0)",
    )
    c = p.add_argument_group(
        "checkpoints (crash-safe; a resumed run is bitwise the same run)",
        "One command line survives any crash: 'sgdlab train --resume DIR [options]' starts the "
        "run in DIR when DIR holds no checkpoint yet and continues it otherwise. A new run "
        "refuses a DIR that holds another run's checkpoints. On resume, an option given that "
        "differs from the checkpoint's is refused by name; a larger --epochs extends the run.",
    )
    c.add_argument(
        "--checkpoint-dir",
        metavar="DIR",
        help="write atomic, hash-verified checkpoints into DIR (which must hold "
        "no checkpoints yet)",
    )
    c.add_argument(
        "--checkpoint-every",
        metavar="STEPS|epoch",
        type=every_type,
        default="epoch",
        help="checkpoint every STEPS steps, or every epoch (default epoch)",
    )
    c.add_argument(
        "--keep",
        type=positive_int,
        default=2,
        help="how many newest checkpoints to keep (default 2)",
    )
    c.add_argument(
        "--resume",
        metavar="DIR",
        help="continue the run in DIR from its newest valid checkpoint, with its "
        "config, or start it there if DIR has no checkpoint yet (SIGTERM/Ctrl-C "
        "during a checkpointed run write one and exit)",
    )
    d = p.add_argument_group(
        "data-parallel (launch with: torchrun --nproc-per-node K -m sgdlab train ...; "
        "see docs/distributed.md)"
    )
    d.add_argument(
        "--dist-timeout",
        metavar="SECONDS",
        type=positive_float,
        default=120.0,
        help="how long the ranks may wait for each other (rendezvous, every "
        "all-reduce) before every rank stops with an error (default 120)",
    )
    p.add_argument(
        "--save-weights",
        metavar="PATH",
        type=lambda t: writable_file(t, (".safetensors", ".pt")),
        help="write the final z.weight/z.bias (.safetensors or .pt)",
    )
    p.add_argument(
        "--plot",
        metavar="PATH",
        type=lambda t: writable_file(t, IMAGE_SUFFIXES),
        help="draw the history (cost and accuracy against epochs) into PATH",
    )
    defer_defaults(p)
    p.set_defaults(run=run, parser=p)


SCHEDULES = ("constant", "step", "cosine", "inverse")
#: TrainConfig fields that the command line sets (for ``args._explicit``).
CONFIG_FIELDS = {
    "batch_size",
    "epochs",
    "lr",
    "seed",
    "method",
    "engine",
    "device",
    "init",
    "momentum",
    "nesterov",
    "weight_decay",
    "schedule",
    "gamma",
    "step_epochs",
    "t0",
    "average",
    "validation",
    "validation_seed",
}


def every_type(text: str) -> int | str:
    return "epoch" if text == "epoch" else positive_int(text)


def run(args: argparse.Namespace) -> int:
    from sgdlab.errors import ConfigError
    from sgdlab.measure.machine import restore_threads, set_threads
    from sgdlab.training import dist
    from sgdlab.training.trainer import train
    from sgdlab.training.weights import save_weights

    resolve(args.parser, args, args.config, fields=CONFIG_FIELDS)  # sets args._explicit
    if args.resume and args.checkpoint_dir and args.resume != args.checkpoint_dir:
        raise ConfigError(
            f"--checkpoint-dir {args.checkpoint_dir} and --resume {args.resume} "
            "name different directories; a resumed run writes where it resumes"
        )
    if args.checkpoint_dir and not args.resume:  # refuse a used directory before the data
        from sgdlab.training.runs import refuse_used_dir

        refuse_used_dir(args.checkpoint_dir)
    old = set_threads(args.threads)
    try:
        with dist.session(device=args.device, timeout=args.dist_timeout) as world:
            ds = load_data(args)
            result = _train(args, ds, train)
    finally:
        restore_threads(old)
    if not world.is_main:  # rank 0 alone prints and writes files
        return 0
    return _report(args, ds, result, save_weights, world.size)


def _train(args: argparse.Namespace, ds, train):
    return train(
        batch_size=args.batch_size,
        epochs=args.epochs,
        lr=args.lr,
        seed=args.seed,
        method=args.method,
        engine=args.engine,
        device=args.device,
        init=args.init,
        data=ds,
        progress=not args.quiet,
        checkpoint_dir=args.resume or args.checkpoint_dir,
        checkpoint_every=args.checkpoint_every,
        keep=args.keep,
        resume="auto" if args.resume else False,
        explicit=args._explicit,
        momentum=args.momentum,
        nesterov=args.nesterov,
        weight_decay=args.weight_decay,
        schedule=args.schedule,
        gamma=args.gamma,
        step_epochs=args.step_epochs,
        t0=args.t0,
        average=args.average,
        validation=args.validation,
        validation_seed=args.validation_seed,
    )


def _report(args: argparse.Namespace, ds, result, save_weights, ranks: int = 1) -> int:
    if args.plot:
        from sgdlab.plots import history_curves

        history_curves(result.history, args.plot, title=_title(result.config))
    doc = result.to_dict()
    if args.save_weights:
        meta = {k: json.dumps(doc[k]) for k in ("config", "environment", "data")}
        doc["weights"] = str(save_weights(result.model, args.save_weights, meta))
    if args.json:
        emit_json(doc)
        return 0
    cfg = result.config
    print(f"data: {ds.source}{'  (SAMPLE, not the full set)' if ds.is_sample else ''}")
    if result.resumed_step is not None:
        finished = result.resumed_step == result.history[-1]["steps"]
        print(
            f"resumed {args.resume} at step {result.resumed_step} with the checkpoint's config"
            + (" (the run had finished: nothing trained)" if finished else "")
        )
    print(
        f"{_title(cfg)} seed={cfg['seed']} engine={cfg['engine']} device={cfg['device']}"
        + (f" ranks={ranks}" if ranks > 1 else "")
    )
    if "validation" in result.data:
        v = result.data["validation"]
        print(
            f"validation: {v['size']} held-out training samples (split seed {v['seed']}, "
            f"indices sha256 {v['sha256']})"
        )
    val = "validation" in result.data
    print(
        f"{'epoch':>5} {'steps':>7} {'train s':>8} {'train C':>8} {'test C':>8} "
        f"{'train acc':>9} {'test acc':>8}" + (f" {'val acc':>8}" if val else "")
    )
    for h in result.history:
        print(
            f"{h['epoch']:>5} {h['steps']:>7} {h['train_seconds']:>8.3f} {h['train_cost']:>8.4f} "
            f"{h['test_cost']:>8.4f} {h['train_accuracy']:>9.2%} {h['test_accuracy']:>8.2%}"
            + (f" {h['val_accuracy']:>8.2%}" if val else "")
        )
    print(f"final test accuracy: {result.history[-1]['test_accuracy']:.2%}")
    if args.save_weights:
        print(f"weights saved to {doc['weights']}")
    if args.plot:
        print(f"curves drawn into {args.plot}")
    return 0


def _title(cfg: dict) -> str:
    extra = [f"{k}={cfg[k]}" for k in ("momentum", "weight_decay") if cfg.get(k)]
    extra += ["nesterov"] * bool(cfg.get("nesterov")) + ["average"] * bool(cfg.get("average"))
    return (
        f"{cfg['method']} b={cfg['batch_size']} lr={cfg['lr']} {cfg.get('schedule', '')} "
        + " ".join(extra)
    ).strip()
