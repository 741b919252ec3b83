"""The experiments of SPEC section 4, by name, for each profile.

An `Experiment` lists what it needs and what it produces:
- `runs`: trainings, each a config spec `FILE.py:ARG` (the hyperparameters live in the config
  files; this module only names the variants);
- `analyses`: `run_analysis` calls on a run's checkpoint (final or a snapshot epoch) with the
  profile's analysis settings;
- `theory`: `python -m theory` invocations;
- `figures` and `tables`: built from the analyses' outputs by `experiments.figures` and
  `experiments.tables` (a figure or table `kind` names the builder).

Runs and analyses are identified by content (the resolved config; the run plus the analysis
options), so one shared by several experiments is trained or analysed once.

An experiment is one method of `_Builder` decorated with `@experiment("name")`: the decorator is
the only list of experiments (their order is the report's), and the method reads its grid from the
profile (`experiments/configs/profiles.py`). See docs/architecture.md, "add an experiment".
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
from collections.abc import Callable
from typing import Any

import numpy as np

from experiments import configs
from experiments.configs import profiles

# Number of classes of every dataset a profile uses (for drawing the 3 analysed classes).
_NUM_CLASSES = {"fashion_mnist": 10, "mnist": 10, "cifar10": 10, "cifar100": 100}

#: name -> the `_Builder` method that builds it, in the order of the report (SPEC section 4).
_EXPERIMENTS: dict[str, Callable[[_Builder], Experiment]] = {}


def experiment(name: str):
    """Registers a `_Builder` method as the experiment `name`."""

    def register(method):
        if name in _EXPERIMENTS:
            raise ValueError(f"experiment {name!r} registered twice")
        _EXPERIMENTS[name] = method
        return method

    return register


def _digest(obj: Any) -> str:
    text = json.dumps(obj, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


@dataclasses.dataclass(frozen=True)
class Run:
    """One training: a config spec and its resolved config (canonical JSON)."""

    spec: str = dataclasses.field(compare=False)
    config_json: str = dataclasses.field(compare=True)

    @functools.cached_property
    def config(self) -> dict:
        return json.loads(self.config_json)

    @property
    def config_hash(self) -> str:
        return _digest(self.config)

    @property
    def tags(self) -> dict[str, Any]:
        """What distinguishes this run from the others of the study."""
        c = self.config
        return {
            "arch": c["model"]["name"],
            "dataset": c["dataset"]["name"],
            "loss": c["loss"],
            "optimizer": c["optimizer"]["name"],
            "mixup": bool(c["mixup"]["alpha"] > 0),
            "mix_layer": c["mixup"]["layer"],
            "classifier": "fixed_etf" if c["fixed_etf"] else "learned",
            "seed": c["seed"],
        }

    @property
    def run_id(self) -> str:
        t = self.tags
        parts = [
            t["arch"],
            t["dataset"],
            t["loss"],
            t["optimizer"],
            "mixup" if t["mixup"] else "erm",
        ]
        if t["mix_layer"] not in (0, "0", "input"):
            parts.append(f"layer{t['mix_layer']}")
        if t["classifier"] == "fixed_etf":
            parts.append("etf")
        parts.append(f"s{t['seed']}")
        return "-".join(str(p) for p in parts) + "-" + self.config_hash[:8]

    @property
    def label(self) -> str:
        t = self.tags
        text = f"{t['arch']} / {t['dataset']} / {t['loss'].upper()} / {t['optimizer']}"
        text += " / mixup" if t["mixup"] else " / no mixup"
        if t["mix_layer"] not in (0, "0", "input"):
            text += f" at layer {t['mix_layer']}"
        if t["classifier"] == "fixed_etf":
            text += " / fixed ETF"
        return text + f" / seed {t['seed']}"


@dataclasses.dataclass(frozen=True)
class Analysis:
    """One `run_analysis` call: a run, a checkpoint (epoch; None = final) and the options."""

    run: Run
    epoch: int | None
    classes: tuple[int, ...]
    lambdas: str
    pairs_per_class: int
    mode: str
    layers: tuple[str, ...] | str  # names of earlier layers, or "all" (the analysis's default)
    seed: int
    num_triples: int = 1
    figures: bool = True  # False: metrics only (replicate seeds: no figure shows them)
    evidence: bool = True  # False: not for the claims (e.g. the density's coarse lambda grid)
    feature_mix_layer: int | str | None = None  # also mix the pairs at this hidden layer (C6)

    @property
    def options(self) -> dict[str, Any]:
        # feature_mix_layer only when set: the options (and the cache keys) of every analysis
        # made before it existed are unchanged
        extra = (
            {} if self.feature_mix_layer is None else {"feature_mix_layer": self.feature_mix_layer}
        )
        return {
            **extra,
            "epoch": self.epoch,
            "classes": list(self.classes),
            "lambdas": self.lambdas,
            "pairs_per_class": self.pairs_per_class,
            "mode": self.mode,
            "layers": self.layers if isinstance(self.layers, str) else list(self.layers),
            "seed": self.seed,
            "num_triples": self.num_triples,
            "figures": self.figures,
            "evidence": self.evidence,
        }

    @property
    def analysis_hash(self) -> str:
        return _digest({"run": self.run.config_hash, **self.options})

    @property
    def analysis_id(self) -> str:
        when = "final" if self.epoch is None else f"epoch{self.epoch}"
        return f"{self.run.run_id[:-9]}-{when}-{self.analysis_hash[:8]}"

    @property
    def tags(self) -> dict[str, Any]:
        return {**self.run.tags, "epoch": self.epoch if self.epoch is not None else "final"}

    @property
    def label(self) -> str:
        when = "" if self.epoch is None else f" (epoch {self.epoch})"
        if self.epoch == 0:
            when = " (random initialisation)"
        return self.run.label + when


@dataclasses.dataclass(frozen=True)
class Theory:
    """One `python -m theory solve` call (JSON + plot), named within the experiment."""

    name: str
    args: tuple[str, ...]

    @property
    def theory_id(self) -> str:
        return f"{self.name}-{_digest(list(self.args))[:8]}"


@dataclasses.dataclass(frozen=True)
class Figure:
    """A figure: `kind` names its builder in `experiments.figures`."""

    name: str
    kind: str
    caption: str
    analyses: tuple[Analysis, ...] = ()
    theory: tuple[Theory, ...] = ()
    params: tuple[tuple[str, Any], ...] = ()


@dataclasses.dataclass(frozen=True)
class Table:
    """A table: one row per analysis; columns are tags then metric keys."""

    name: str
    caption: str
    analyses: tuple[Analysis, ...]
    tag_columns: tuple[str, ...]
    metric_columns: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class Experiment:
    name: str
    title: str
    description: str
    runs: tuple[Run, ...]
    analyses: tuple[Analysis, ...]
    figures: tuple[Figure, ...]
    tables: tuple[Table, ...]
    theory: tuple[Theory, ...] = ()


# Metric columns of the tables (keys of the analysis metrics.json).
ACCURACY_COLUMNS = ("accuracy", "nll", "ece", "mce", "brier")
NC_COLUMNS = ("nc1", "nc2_equinorm", "nc2_equiangular", "nc2_etf_distance", "nc3", "nc4")
GEOMETRY_COLUMNS = (
    "same_class_alignment",
    "same_class_spread",
    "same_class_alignment_full",
    "boundary_gap",
    "chord_deviation",
    "channel_deviation",
)
THEORY_COLUMNS = (
    "theory_gamma_etf",
    "theory_delta_straight",
    "theory_rel_dist_interior",
    "theory_rel_dist_straight",
    "theory_fit_at_bound",
    "theory_cos_etf",
    "theory_cos_own_w",
)


class _Builder:
    """Builds the experiments of one profile (shared helpers for the run/analysis variants)."""

    def __init__(self, profile: str, dry_run: bool = False):
        self.p = profiles.get_config(profile)
        self.profile = profile
        self.dry_run = dry_run
        if dry_run:  # experiments.dry_run: the real networks, a few steps, images and pairs
            from experiments import dry_run as dry

            self.p.seeds = self.p.seeds[:1]
            self.p.replication_seeds = self.p.replication_seeds[:1]
            self.p.analysis = dry.shrink_analysis(self.p.analysis)
            self.p.analysis.num_triples = min(self.p.analysis.num_triples, 2)

    def run(self, cell: str, seed: int | None = None, **arg: Any) -> Run:
        """The run of `cell` ("arch/dataset") with config arguments `arg`, training seed `seed`
        (default: the profile's first)."""
        arch, dataset = cell.split("/")
        arg["seed"] = self.p.seeds[0] if seed is None else seed
        text = ",".join(
            [f"arch={arch}", f"dataset={dataset}"]
            + [f"{k}={int(v) if isinstance(v, bool) else v}" for k, v in arg.items()]
        )
        spec = f"{self.p.train_config}:{text}"
        config = configs.load(spec)
        if self.dry_run:
            from experiments import dry_run as dry

            config = dry.shrink_run_config(config, snapshot_epochs=(0, 1))
            spec += " (shrunk by experiments.dry_run)"
        return Run(
            spec=spec, config_json=json.dumps(config.to_dict(), sort_keys=True, default=list)
        )

    def classes(self, dataset: str) -> tuple[int, ...]:
        rng = np.random.default_rng(self.p.analysis.class_seed)
        chosen = rng.choice(_NUM_CLASSES[dataset], self.p.analysis.num_classes, replace=False)
        return tuple(sorted(int(c) for c in chosen))

    def first_seed(self, analyses: tuple[Analysis, ...]) -> tuple[Analysis, ...]:
        """The analyses of the profile's first seed (what the figures show; the claims and
        tables use every seed)."""
        return tuple(a for a in analyses if a.run.tags["seed"] == self.p.seeds[0])

    def runs(self, grid: tuple[str, ...], **arg: Any) -> tuple[Run, ...]:
        """The runs of every cell of `grid` for every seed of the profile (the replicates)."""
        return tuple(self.run(cell, seed=s, **arg) for cell in grid for s in self.p.seeds)

    def analysis(
        self,
        run: Run,
        *,
        epoch: int | None = None,
        density: bool = False,
        layers: tuple[str, ...] | str = (),
        triples: int | None = None,
        feature_mix_layer: int | str | None = None,
    ) -> Analysis:
        """The analysis of `run` (final checkpoint, or `epoch`) with the profile's settings;
        `triples` class triples (default: the profile's num_triples for a final checkpoint or
        the initialisation, 1 for other snapshots); `feature_mix_layer`: also mix the pairs at
        that hidden layer (run_analysis)."""
        a = self.p.analysis
        if epoch is not None and epoch == run.config["num_epochs"]:
            epoch = None  # the last snapshot is the final checkpoint: analyse it once
        pairs = a.pairs_per_class
        if density:
            pairs = a.density_pairs_per_class
        elif layers:
            pairs = a.layers_pairs_per_class
        return Analysis(
            run=run,
            epoch=epoch,
            classes=self.classes(run.tags["dataset"]),
            lambdas=a.density_lambdas if density else a.lambdas,
            pairs_per_class=pairs,
            mode=a.mode,
            layers=layers,
            seed=a.seed,
            num_triples=triples or (1 if density else a.num_triples if epoch in (None, 0) else 1),
            figures=run.tags["seed"] == self.p.seeds[0],
            evidence=not density,
            feature_mix_layer=feature_mix_layer,
        )

    # ---- the experiments -------------------------------------------------------------------

    @experiment("geometry")
    def geometry(self) -> Experiment:
        runs = self.runs(self.p.geometry_grid)
        analyses = tuple(self.analysis(r) for r in runs)
        return Experiment(
            name="geometry",
            title="Geometry of last-layer activations of mixed training data",
            description=(
                "Networks trained with mixup (CE). Mixed training pairs of 3 random classes on a "
                "lambda grid, last-layer activations projected onto the plane of the three "
                "classifier rows (paper appendix B.2). Same-class mixtures should lie on their "
                "classifier direction for every lambda; different-class mixtures should trace "
                "channels reaching the decision boundary at lambda = 1/2."
            ),
            runs=runs,
            analyses=analyses,
            figures=(
                Figure(
                    "projection",
                    "projection_grid",
                    "Last-layer activations of mixed training data, one panel per run "
                    "(first seed); classifier rows in black.",
                    self.first_seed(analyses),
                ),
            ),
            tables=(
                Table(
                    "metrics",
                    "Accuracy, NC metrics and mixup geometry per run.",
                    analyses,
                    ("arch", "dataset", "optimizer"),
                    ("accuracy",) + GEOMETRY_COLUMNS + NC_COLUMNS,
                ),
            ),
        )

    @experiment("loss_comparison")
    def loss_comparison(self) -> Experiment:
        runs = tuple(r for loss in ("ce", "mse") for r in self.runs(self.p.loss_grid, loss=loss))
        analyses = tuple(self.analysis(r) for r in runs)
        return Experiment(
            name="loss_comparison",
            title="Mixup with the MSE loss (straight segments) vs CE (channels)",
            description=(
                "The same mixup training with the MSE loss to the soft target. Under MSE the "
                "different-class activations should lie on the straight chord between the class "
                "means (the UFM optimum is affine in lambda); under CE they bend into channels "
                "along the decision boundary (larger chord deviation)."
            ),
            runs=runs,
            analyses=analyses,
            figures=(
                Figure(
                    "projection",
                    "projection_grid",
                    "CE, then MSE (per architecture/dataset; first seed).",
                    self.first_seed(analyses),
                ),
            ),
            tables=(
                Table(
                    "metrics",
                    "Chord deviation and geometry, CE vs MSE.",
                    analyses,
                    ("arch", "dataset", "loss"),
                    ("accuracy", "ece") + GEOMETRY_COLUMNS,
                ),
            ),
        )

    @experiment("optimizers")
    def optimizers(self) -> Experiment:
        runs = tuple(
            self.run(cell, opt=opt) for cell in self.p.optimizer_grid for opt in self.p.optimizers
        )
        analyses = tuple(self.analysis(r) for r in runs)
        return Experiment(
            name="optimizers",
            title="Optimizer robustness: SGD, Adam, AdamW",
            description=(
                "The geometry should not depend on the optimizer: the same mixup "
                "training with SGD, Adam and AdamW."
            ),
            runs=runs,
            analyses=analyses,
            figures=(
                Figure(
                    "projection", "projection_grid", "Left to right: SGD, Adam, AdamW.", analyses
                ),
            ),
            tables=(
                Table(
                    "metrics",
                    "Accuracy, calibration and geometry per optimizer.",
                    analyses,
                    ("arch", "dataset", "optimizer"),
                    ("accuracy", "ece") + GEOMETRY_COLUMNS,
                ),
            ),
        )

    @experiment("calibration")
    def calibration(self) -> Experiment:
        runs = tuple(r for m in (True, False) for r in self.runs(self.p.calibration_grid, mixup=m))
        analyses = tuple(self.analysis(r) for r in runs)
        return Experiment(
            name="calibration",
            title="Calibration with and without mixup",
            description=(
                "Test accuracy and expected calibration error (15 bins, top label) with and "
                "without mixup (the paper's tables), reliability diagrams, and the mechanism: "
                "the network's confidence on different-class mixtures drops towards lambda = 1/2, "
                "where the activations sit on the decision boundary."
            ),
            runs=runs,
            analyses=analyses,
            figures=(
                Figure(
                    "reliability",
                    "analysis_figure",
                    "Reliability diagrams on the test set (with mixup, without; first seed).",
                    self.first_seed(analyses),
                    params=(("stem", "reliability"),),
                ),
                Figure(
                    "confidence_vs_lambda",
                    "analysis_figure",
                    "Mean confidence and accuracy on different-class mixtures vs lambda "
                    "(first seed).",
                    self.first_seed(analyses),
                    params=(("stem", "confidence_vs_lambda"),),
                ),
                Figure("ece", "ece_bars", "Test ECE with and without mixup.", analyses),
            ),
            tables=(
                Table(
                    "accuracy_ece",
                    "Test accuracy and calibration, with/without mixup.",
                    analyses,
                    ("arch", "dataset", "optimizer", "mixup"),
                    ACCURACY_COLUMNS,
                ),
            ),
        )

    @experiment("fixed_etf")
    def fixed_etf(self) -> Experiment:
        runs = tuple(r for etf in (False, True) for r in self.runs(self.p.etf_grid, etf=etf))
        analyses = tuple(self.analysis(r) for r in runs)
        return Experiment(
            name="fixed_etf",
            title="Fixed simplex-ETF classifier vs learned classifier, with the UFM optimum",
            description=(
                "With the classifier frozen to a simplex ETF, the activations should match the "
                "UFM optimum (SPEC 2) even more closely, at no cost in accuracy. The theory curves "
                "(optimum under an ETF aligned to W, weight decay fitted) are overlaid."
            ),
            runs=runs,
            analyses=analyses,
            figures=(
                Figure(
                    "projection_theory",
                    "analysis_figure",
                    "Activations with the fitted UFM optimum overlaid (learned "
                    "classifier; fixed simplex ETF; first seed).",
                    self.first_seed(analyses),
                    params=(("stem", "projection_theory"),),
                ),
            ),
            tables=(
                Table(
                    "theory_agreement",
                    "Agreement with the UFM optimum and accuracy.",
                    analyses,
                    ("arch", "dataset", "classifier"),
                    ("accuracy", "ece") + THEORY_COLUMNS + ("same_class_alignment",),
                ),
            ),
        )

    @experiment("dynamics")
    def dynamics(self) -> Experiment:
        runs = tuple(self.run(cell) for cell in self.p.dynamics_grid)
        # one class triple per snapshot, except the final checkpoint: the geometry analysis itself
        analyses = tuple(
            self.analysis(r, epoch=e) for r in runs for e in r.config["snapshot_epochs"] if e > 0
        )
        return Experiment(
            name="dynamics",
            title="Training dynamics: the geometry across epochs",
            description=(
                "The configuration emerges during training: the projection and its "
                "metrics at several snapshot epochs of the same run."
            ),
            runs=runs,
            analyses=analyses,
            figures=(
                Figure(
                    "projection", "projection_grid", "Snapshots, left to right by epoch.", analyses
                ),
                Figure(
                    "metrics",
                    "metric_curves",
                    "Geometry and NC metrics vs epoch.",
                    analyses,
                    params=(
                        (
                            "metrics",
                            (
                                "same_class_alignment",
                                "boundary_gap",
                                "chord_deviation",
                                "nc1",
                                "accuracy",
                            ),
                        ),
                    ),
                ),
            ),
            tables=(
                Table(
                    "metrics",
                    "Metrics per snapshot epoch.",
                    analyses,
                    ("arch", "dataset", "epoch"),
                    ("accuracy", "ece") + GEOMETRY_COLUMNS + ("nc1", "nc3"),
                ),
            ),
        )

    @experiment("earlier_layers")
    def earlier_layers(self) -> Experiment:
        runs, analyses = [], []
        for cell in self.p.earlier_grid:
            for seed in self.p.seeds:
                base = self.run(cell, seed=seed)
                erm = self.run(cell, seed=seed, mixup=False)
                manifold = self.run(cell, seed=seed, layer=self.p.manifold_layer)
                runs += [base, erm, manifold]
                analyses += [
                    self.analysis(base, layers="all"),
                    self.analysis(erm, layers="all"),
                    self.analysis(manifold, layers="all"),
                    self.analysis(base, epoch=0, layers="all"),
                ]
        analyses = tuple(analyses)
        return Experiment(
            name="earlier_layers",
            title="Earlier layers: as if trained with manifold mixup",
            description=(
                "The same projection for the activations of earlier blocks of the input-mixup "
                "network, beside the same blocks of a no-mixup (ERM) network, of a network "
                "trained with manifold mixup at the last block before the penultimate layer, and "
                "of the randomly initialised network. Mixed inputs are fed to every network, so "
                "no layer is linear in lambda by construction; the linearity error of each "
                "layer measures how close the features of a mixed input stay to the mixture of "
                "the features (claim C6)."
            ),
            runs=tuple(runs),
            analyses=analyses,
            figures=(
                Figure(
                    "layers",
                    "analysis_figure",
                    "Earlier-layer activations (input mixup; ERM; manifold mixup; random "
                    "initialisation), first seed.",
                    tuple(a for a in analyses if a.run.tags["seed"] == self.p.seeds[0]),
                    params=(("stem", "layers"),),
                ),
            ),
            tables=(
                Table(
                    "metrics",
                    "Linearity of the earlier layers and geometry of the last "
                    "layer per run (first class triple).",
                    analyses,
                    ("arch", "dataset", "mixup", "mix_layer", "seed", "epoch"),
                    ("accuracy", "earlier_linearity_error") + GEOMETRY_COLUMNS,
                ),
            ),
        )

    @experiment("density")
    def density(self) -> Experiment:
        runs = tuple(self.run(cell) for cell in self.p.density_grid)
        analyses = tuple(self.analysis(r, density=True) for r in runs)
        return Experiment(
            name="density",
            title="Density of different-class activations at lambda = 1/2",
            description=(
                "Where different-class mixtures at lambda = 1/2 land: concentrated on "
                "the decision boundary between their two classes."
            ),
            runs=runs,
            analyses=analyses,
            figures=(
                Figure(
                    "density",
                    "analysis_figure",
                    "Density of different-class activations at lambda = 1/2.",
                    analyses,
                    params=(("stem", "density_half"),),
                ),
            ),
            tables=(
                Table(
                    "metrics",
                    "Boundary gap at lambda = 1/2.",
                    analyses,
                    ("arch", "dataset"),
                    ("boundary_gap",),
                ),
            ),
        )

    @experiment("replication")
    def replication(self) -> Experiment:
        """Fresh seeds for the claims revised after their first rules proved weak
        (experiments.claims: version 2 of C4 and C6, registered before these seeds ran and
        judged on them alone)."""
        runs, analyses = [], []
        grid = tuple(dict.fromkeys(self.p.calibration_grid + self.p.earlier_grid))
        for cell in grid:
            earlier = cell in self.p.earlier_grid
            layer = self.p.manifold_layer if earlier else None
            for seed in self.p.replication_seeds:
                base = self.run(cell, seed=seed)
                erm = self.run(cell, seed=seed, mixup=False)
                nets = [base, erm]
                if earlier:
                    nets.append(self.run(cell, seed=seed, layer=self.p.manifold_layer))
                runs += nets
                analyses += [self.analysis(r, feature_mix_layer=layer) for r in nets]
                if earlier:  # the random-initialisation control of C6
                    analyses.append(self.analysis(base, epoch=0, feature_mix_layer=layer))
        analyses = tuple(analyses)
        return Experiment(
            name="replication",
            title="Replication on unseen seeds (revised claims)",
            description=(
                "Training seeds that no analysis of the first claim rules used: input mixup and "
                "no mixup in every calibration cell (C4 version 2: test ECE), and, in the "
                "earlier-layers cells, the manifold-mixup network and the random "
                "initialisation, with every pair also mixed at the manifold network's mixing "
                "layer (C6 version 2: feature_mixup_kl, how well the network predicts the "
                "mixed label when features are mixed there, the loss manifold mixup trains). "
                "The revised rules were committed before these runs (experiments.claims)."
            ),
            runs=tuple(runs),
            analyses=analyses,
            figures=(
                Figure(
                    "ece",
                    "ece_bars",
                    "Test ECE with and without mixup on the unseen seeds (claim C4, version 2).",
                    tuple(
                        a
                        for a in analyses
                        if a.epoch is None and a.run.tags["mix_layer"] in (0, "0", "input")
                    ),
                ),
                Figure(
                    "mixed_label_fit",
                    "mixed_label_fit",
                    "KL from the mixed label to the prediction with the two images' features "
                    "mixed at the manifold network's mixing layer, per kind of network (claim "
                    "C6, version 2; dots: seeds, each the mean over its class triples).",
                    tuple(a for a in analyses if a.feature_mix_layer is not None),
                ),
            ),
            tables=(
                Table(
                    "metrics",
                    "Test calibration and the mixed-label fit per run (first class triple).",
                    analyses,
                    ("arch", "dataset", "mixup", "mix_layer", "seed", "epoch"),
                    ("accuracy", "ece", "input_mixup_kl", "feature_mixup_kl"),
                ),
            ),
        )

    @experiment("theory_residual")
    def theory_residual(self) -> Experiment:
        """Issue 13: what drives the residual between the networks and the UFM (opt-in)."""
        s = self.p.residual
        variants = [("weight decay", wd, {"wd": wd}) for wd in s.weight_decays]
        variants += [("depth", d, {"depth": d}) for d in s.depths]
        variants += [("width", w, {"width": w}) for w in s.widths]
        variants += [
            ("classifier", "fixed ETF" if etf else "learned", {"etf": etf}) for etf in (False, True)
        ]
        groups, analyses = [], {}
        for seed in self.p.seeds:
            base = self.run(s.cell, seed=seed)
            for factor, level, arg in variants:
                a = self.analysis(self.run(s.cell, seed=seed, **arg))
                analyses[a] = None
                groups.append((factor, level, a.analysis_id))
            for e in base.config["snapshot_epochs"]:  # the base run along training
                if e > 0:
                    a = self.analysis(base, epoch=e, triples=self.p.analysis.num_triples)
                    analyses[a] = None
                    groups.append(("epoch", e, a.analysis_id))
        analyses = tuple(analyses)
        return Experiment(
            name="theory_residual",
            title="What drives the residual between trained networks and the UFM",
            description=(
                "The agreement of the mixed features with the UFM optimum (CE, ETF aligned to "
                "W), measured held out: gamma, the penalty power p of (mu/p)||h||^p and the "
                "scale are fitted on all class triples but one and evaluated on the held-out "
                "triple (one triple: on the held-out class pair), as the margin over the "
                "straight chord (theory_delta_straight, > 0: the theory explains the paths "
                "better than straight segments), with p fitted and with p = 2. One factor of "
                f"the base mixup run ({s.cell}) varies at a time: training epoch, weight decay, "
                "depth, width, classifier; every seed. Not part of the default reproduce: "
                "`nc-mixup reproduce --only theory_residual`."
            ),
            runs=tuple(dict.fromkeys(a.run for a in analyses)),
            analyses=analyses,
            figures=(
                Figure(
                    "agreement",
                    "residual_study",
                    "Held-out margin of the UFM optimum over the straight chord per "
                    "factor level (filled: p fitted; open: p = 2; dots: seeds; bars: "
                    "95% bootstrap intervals over seeds).",
                    analyses,
                    params=(("groups", tuple(groups)),),
                ),
            ),
            tables=(
                Table(
                    "agreement",
                    "Held-out agreement with the UFM per analysis (the "
                    "factor levels are in the findings' table above).",
                    analyses,
                    ("arch", "classifier", "seed", "epoch"),
                    (
                        "accuracy",
                        "theory_delta_straight",
                        "theory_delta_straight_p2",
                        "theory_fit_power",
                        "theory_fit_power_at_bound",
                        "theory_rel_dist_heldout",
                        "theory_rel_dist_straight_heldout",
                        "theory_confidence_rmse",
                        "theory_confidence_rmse_same",
                    ),
                ),
            ),
        )

    @experiment("theory")
    def theory(self) -> Experiment:
        t = self.p.theory
        calls = tuple(
            Theory(
                f"ufm_{loss}",
                (
                    "solve",
                    "--classes",
                    str(t.classes),
                    "--weight-decay",
                    str(t.weight_decay),
                    "--norm",
                    str(t.norm),
                    "--loss",
                    loss,
                    "--lambdas",
                    t.lambdas,
                    "--pairs",
                    t.pairs,
                ),
            )
            for loss in t.losses
        )
        # The agreement metric is computed by the analysis of every run; collect them all here.
        analyses = tuple(
            dict.fromkeys(
                self.geometry().analyses
                + self.loss_comparison().analyses
                + self.fixed_etf().analyses
            )
        )
        return Experiment(
            name="theory",
            title="Theory: UFM optimal features in the paper's projection",
            description=(
                "Optimal last-layer features of the unconstrained features model under the mixup "
                "loss with a simplex-ETF classifier (SPEC 2), from `python -m theory`: same-class "
                "optima on the classifier directions, different-class optima in channels through "
                "the boundary (CE) vs straight segments (MSE). The table gives the agreement of "
                "every analysed network with the theory."
            ),
            runs=tuple(dict.fromkeys(a.run for a in analyses)),
            analyses=analyses,
            theory=calls,
            figures=tuple(
                Figure(
                    c.name, "theory_plot", f"UFM optimum, {c.name[4:].upper()} loss.", theory=(c,)
                )
                for c in calls
            ),
            tables=(
                Table(
                    "agreement",
                    "Agreement with the UFM optimum, per analysed run.",
                    analyses,
                    ("arch", "dataset", "loss", "classifier"),
                    THEORY_COLUMNS,
                ),
            ),
        )


EXPERIMENT_NAMES = tuple(_EXPERIMENTS)
#: Experiments run only when named (`--only NAME`): not in the default reproduce, and never
#: claim evidence (their runs change the recipe on purpose; the claims read `experiments()`).
OPT_IN = ("theory_residual",)


def experiments(
    profile: str, dry_run: bool = False, include: tuple[str, ...] | list[str] = ()
) -> dict[str, Experiment]:
    """Every experiment of `profile` but the OPT_IN ones not in `include`, by name (in the order
    of SPEC section 4); `dry_run`: its runs shrunk by `experiments.dry_run` (first seed, a few
    steps, images and pairs)."""
    builder = _Builder(profile, dry_run)
    return {
        name: build(builder)
        for name, build in _EXPERIMENTS.items()
        if name not in OPT_IN or name in include
    }


def select(
    profile: str, only: list[str] | None = None, dry_run: bool = False
) -> dict[str, Experiment]:
    """The experiments named in `only` (all but OPT_IN when None); unknown names raise
    KeyError."""
    every = experiments(profile, dry_run, include=only or ())
    if not only:
        return every
    unknown = [n for n in only if n not in every]
    if unknown:
        raise KeyError(
            f"unknown experiment(s) {', '.join(unknown)}; known: {', '.join(EXPERIMENT_NAMES)}"
        )
    return {n: every[n] for n in only}
