"""`python -m theory solve ...` (simplex-ETF classifier) and `python -m theory ufm ...` (full UFM).

Invalid arguments exit with status 2 and one line naming the argument. `solve` accepts weight
decay in [1e-12, 1e6] and ETF norm in [1e-6, 1e6] (the range checked against an 80-digit
reference); both commands estimate their memory and refuse above --max-memory-gb.
"""

from __future__ import annotations

import argparse
import json
import math
import pathlib
import sys
from collections.abc import Callable, Sequence

import numpy as np

from theory.etf import etf_coefficients, simplex_etf
from theory.etf_power import etf_kkt_residual
from theory.fixed_classifier import kkt_residual
from theory.full_ufm import full_ufm

WEIGHT_DECAY_RANGE = (1e-12, 1e6)  # `solve`: checked against mpmath to 1e-8 relative (CE)
NORM_RANGE = (1e-6, 1e6)
PLOT_POWERS = (2.0, 1.0, 2.0 / 3.0)  # the p-family of the theory figure
_VALUE_OPTIONS = (
    "--classes --weight-decay --weight-decay-h --weight-decay-w --norm --lambdas --pairs "
    "--penalty-power --dim --alpha --nodes --seed --max-memory-gb --loss --json --plot"
).split()


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error message (no usage block, no traceback), status 2."""

    def error(self, message: str):  # noqa: D401 - argparse's signature
        self.exit(2, f"{self.prog}: error: {message}\n")


def _classes(text: str) -> int:
    try:
        K = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 2, got {text!r}") from None
    if K < 2:
        raise argparse.ArgumentTypeError(f"expected an integer >= 2, got {K}")
    return K


def _int_at_least(minimum: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}, got {value}")
        return value

    return parse


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}") from None
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text}")
    return value


def _in_range(low: float, high: float) -> Callable[[str], float]:
    """A finite number in [low, high] (the documented range of `solve`)."""

    def parse(text: str) -> float:
        value = _positive(text)
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(
                f"{text} is outside the supported range [{low:g}, {high:g}]"
            )
        return value

    return parse


def _penalty_power(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 2], got {text!r}") from None
    if not 0.0 < value <= 2.0:  # also rejects nan
        raise argparse.ArgumentTypeError(f"must be in (0, 2], got {text}")
    return value


def parse_lambdas(text: str) -> np.ndarray:
    """`start:stop:num` (inclusive linspace) or a comma list; every value in [0, 1]."""
    try:
        if ":" in text:
            parts = text.split(":")
            if len(parts) != 3:
                raise ValueError
            start, stop, num = float(parts[0]), float(parts[1]), int(parts[2])
            if num < 1:
                raise argparse.ArgumentTypeError(f"num in start:stop:num must be >= 1: {text!r}")
            values = np.linspace(start, stop, num)
        else:
            values = np.array([float(v) for v in text.split(",")])
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"malformed {text!r}: expected start:stop:num (e.g. 0:1:21) or a comma list"
        ) from None
    bad = values[~((values >= 0) & (values <= 1))]
    if bad.size:
        raise argparse.ArgumentTypeError(
            f"value {bad[0]:g} is not a number in [0, 1] (in {text!r})"
        )
    return values


def parse_pairs(text: str) -> list[tuple[int, int]] | str:
    """`all` or a comma list of C1-C2 (e.g. `0-1,2-2`); class bounds are checked against K later."""
    if text.strip() == "all":
        return "all"
    pairs = []
    for item in text.split(","):
        parts = item.strip().split("-")
        if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
            raise argparse.ArgumentTypeError(
                f"malformed pair {item.strip()!r}: expected `all` or C1-C2 items like 0-1,2-2"
            )
        pairs.append((int(parts[0]), int(parts[1])))
    return pairs


def expand_pairs(pairs: list[tuple[int, int]] | str, K: int) -> list[tuple[int, int]]:
    """The pair list for K classes (`all`: every unordered pair c <= c2, same-class included)."""
    if pairs == "all":
        return [(i, j) for i in range(K) for j in range(i, K)]
    return list(pairs)


def build_parser() -> argparse.ArgumentParser:
    """The parser of `python -m theory {solve,ufm}` (errors: one line, status 2)."""
    fmt = argparse.ArgumentDefaultsHelpFormatter
    parser = _Parser(prog="python -m theory", description=__doc__, formatter_class=fmt)
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    solve = sub.add_parser(
        "solve",
        help="UFM optimum for a simplex-ETF classifier",
        description="Optimal features h*(c, c2, lam) = argmin_h loss(W h, t) + mu/p ||h||^p for a "
        "simplex-ETF classifier W (closed form / exact 1-D search; SPEC sections 2 and 8). "
        "Writes one JSON record per (pair, lambda) and optionally the theory figure.",
        formatter_class=fmt,
    )
    solve.add_argument("--classes", type=_classes, required=True, help="number of classes K >= 2")
    lo, hi = WEIGHT_DECAY_RANGE
    solve.add_argument(
        "--weight-decay",
        type=_in_range(lo, hi),
        required=True,
        help=f"weight decay mu on the features, in [{lo:g}, {hi:g}]",
    )
    lo, hi = NORM_RANGE
    solve.add_argument(
        "--norm",
        type=_in_range(lo, hi),
        default=1.0,
        help=f"row norm s of the ETF, in [{lo:g}, {hi:g}]",
    )
    solve.add_argument(
        "--penalty-power",
        type=_penalty_power,
        default=2.0,
        help="p in (0, 2] of the feature penalty mu/p ||h||^p (2: the paper's UFM)",
    )
    _common(solve, default_pairs="0-1,0-0")

    ufm = sub.add_parser(
        "ufm",
        help="full UFM: W, b and the features jointly",
        description="The full unconstrained-features model under mixup: W, b and every feature "
        "optimised jointly, lam ~ Beta(alpha, alpha) by Gauss-Jacobi quadrature; reports how far "
        "the optimal W is from a simplex ETF.",
        formatter_class=fmt,
    )
    ufm.add_argument("--classes", type=_classes, required=True, help="number of classes K >= 2")
    ufm.add_argument(
        "--dim", type=_int_at_least(1), default=None, help="feature dimension d (default K)"
    )
    ufm.add_argument(
        "--weight-decay-h",
        "--weight-decay",
        dest="weight_decay_h",
        type=_positive,
        required=True,
        help="weight decay on the features",
    )
    ufm.add_argument(
        "--weight-decay-w",
        type=_positive,
        default=None,
        help="weight decay on W (default: that of the features)",
    )
    ufm.add_argument("--alpha", type=_positive, default=1.0, help="lam ~ Beta(alpha, alpha)")
    ufm.add_argument("--nodes", type=_int_at_least(1), default=16, help="Gauss-Jacobi nodes")
    ufm.add_argument("--no-bias", action="store_true", help="fix b = 0")
    ufm.add_argument("--seed", type=int, default=0, help="seed of the initial W")
    _common(ufm, default_pairs="all")
    return parser


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("nc-mixup")
    except Exception:  # noqa: BLE001 - not installed: a source checkout
        return "unknown (not installed)"


def _common(p: argparse.ArgumentParser, default_pairs: str) -> None:
    p.add_argument("--loss", choices=("ce", "mse"), default="ce", help="loss: ce or mse")
    p.add_argument(
        "--lambdas",
        type=parse_lambdas,
        default="0:1:21",
        help="mixing coefficients: start:stop:num (inclusive) or a comma list",
    )
    p.add_argument(
        "--pairs",
        type=parse_pairs,
        default=default_pairs,
        help="class pairs: `all` (c <= c2) or a list like 0-1,2-2",
    )
    p.add_argument("--json", default=None, help="write the JSON here (`-`: stdout)")
    p.add_argument("--plot", default=None, help="theory figure, PNG (a PDF is written beside)")
    p.add_argument(
        "--max-memory-gb",
        type=_positive,
        default=4.0,
        help="refuse (exit 2) when the estimated memory exceeds this many GiB",
    )


def normalize_argv(argv: Sequence[str]) -> list[str]:
    """`--opt -1,2` -> `--opt=-1,2` for options that take a value, so that a value starting with
    '-' reaches the option's own check (argparse would take it for an option)."""
    out: list[str] = []
    items = list(argv)
    i = 0
    while i < len(items):
        item = items[i]
        nxt = items[i + 1] if i + 1 < len(items) else None
        if item in _VALUE_OPTIONS and nxt is not None and nxt[:1] == "-" and nxt not in ("-",):
            if nxt[1:2].isdigit() or nxt[1:2] == "." or nxt[1:].lower() in ("inf", "nan"):
                out.append(f"{item}={nxt}")
                i += 2
                continue
        out.append(item)
        i += 1
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """Run `python -m theory solve|ufm ARGS`; returns the exit status (2: invalid arguments)."""
    parser = build_parser()
    args = parser.parse_args(normalize_argv(sys.argv[1:] if argv is None else argv))
    K = args.classes
    for name in ("json", "plot"):
        problem = _unwritable(getattr(args, name))
        if problem:
            return _usage(args, f"argument --{name}: {problem}")
    if args.pairs == "all":
        n_pairs = K * (K + 1) // 2
    else:
        n_pairs = len(args.pairs)
        for c, c2 in args.pairs:
            if max(c, c2) >= K:
                msg = f"argument --pairs: class index {max(c, c2)} is >= --classes {K}"
                return _usage(args, msg)
    if args.plot and K < 3:
        return _usage(args, "argument --plot: the B.2 projection needs --classes >= 3")
    need = _memory_estimate(args, n_pairs)
    if need > args.max_memory_gb * 2**30:
        return _usage(
            args,
            f"the estimated memory {need / 2**30:.3g} GiB exceeds the limit "
            f"--max-memory-gb {args.max_memory_gb:g} (use fewer --classes, --pairs or --lambdas)",
        )
    pairs = expand_pairs(args.pairs, K)
    try:
        if args.command == "solve":
            return _solve(args, pairs)
        return _ufm(args, pairs)
    except _WriteError as exc:
        return _usage(args, str(exc))


class _WriteError(Exception):
    """An output file could not be written (one line for the user)."""


def _unwritable(path: str | None) -> str | None:
    """Why `path` cannot be written (a parent is a file, or it is a directory), else None."""
    if path is None or path == "-":
        return None
    p = pathlib.Path(path)
    if p.is_dir():
        return f"{path} is a directory"
    for parent in p.parents:
        if parent.exists():
            if not parent.is_dir():
                return f"cannot write {path}: {parent} is not a directory"
            break
    return None


def _memory_estimate(args: argparse.Namespace, n_pairs: int) -> float:
    """Bytes the command will hold at its peak (arrays, and the JSON as Python objects and text).

    solve: per point the feature and logit vectors (K floats each) as arrays (~3 copies) and, with
    --json, as Python floats in lists (~32 B each) and JSON text (~24 B each).
    ufm: the K^2 (nodes + lambdas) features of dimension d, Newton's r x r Hessians by chunks, and
    the JSON of the K^2 ... requested solutions in the same way.
    """
    K, n_lam = args.classes, len(args.lambdas)
    per_number = 8 * 3 + (56 if args.json else 0)
    if args.command == "solve":
        return float(n_pairs) * n_lam * 2 * K * per_number + 8.0 * K * K * 4
    d = args.dim or K
    inner = float(K) * K * (args.nodes + n_lam) * d * 8 * 6 + 8.0 * K * d * 4
    return inner + float(n_pairs) * n_lam * (K + d) * per_number


def _usage(args: argparse.Namespace, message: str) -> int:
    """The one-line error of an invalid combination of arguments; status 2, as argparse."""
    print(f"python -m theory {args.command}: error: {message}", file=sys.stderr)
    return 2


def _points(
    pairs: list[tuple[int, int]], lambdas: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    c = np.repeat([p[0] for p in pairs], len(lambdas)).astype(np.intp)
    c2 = np.repeat([p[1] for p in pairs], len(lambdas)).astype(np.intp)
    lam = np.tile(lambdas, len(pairs))
    return c, c2, lam


def _solutions(
    W: np.ndarray,
    b: np.ndarray | None,
    mu: float,
    c: np.ndarray,
    c2: np.ndarray,
    lam: np.ndarray,
    H: np.ndarray,
    loss: str,
    res: np.ndarray,
) -> list[dict]:
    Z = H @ W.T + (0.0 if b is None else b)
    return [
        {
            "c": int(i),
            "c2": int(j),
            "lam": float(x),
            "h": h.tolist(),
            "logits": z.tolist(),
            "kkt_residual": float(r),
        }
        for i, j, x, h, z, r in zip(c, c2, lam, H, Z, res, strict=True)
    ]


def _solve(args: argparse.Namespace, pairs: list[tuple[int, int]]) -> int:
    K, mu, p = args.classes, args.weight_decay, args.penalty_power
    W = simplex_etf(K, args.norm)
    c, c2, lam = _points(pairs, args.lambdas)
    A, B = etf_coefficients(K, mu, c, c2, lam, norm=args.norm, loss=args.loss, penalty_power=p)
    H = A[:, None] * W[c] + B[:, None] * W[c2]  # = etf_optimum(...)
    res = etf_kkt_residual(K, mu, c, c2, lam, A, B, norm=args.norm, loss=args.loss, penalty_power=p)
    if not (np.all(np.isfinite(H)) and np.all(np.isfinite(res))):
        return _usage(args, "the solver produced a non-finite value (please report this case)")
    out = {
        "classes": K,
        "weight_decay": mu,
        "norm": args.norm,
        "loss": args.loss,
        "penalty_power": p,
        "W": W.tolist(),
        "lambdas": args.lambdas.tolist(),
        "solutions": _solutions(W, None, mu, c, c2, lam, H, args.loss, res),
    }
    worst = float(res.max()) if res.size else 0.0
    _write_json(out, args.json)
    msg = f"solved {len(lam)} points (K={K}, mu={mu}, loss={args.loss}, p={p:g}); "
    msg += f"max relative KKT residual {worst:.2e}"
    if args.plot:
        classes = _plot_classes(pairs, K)
        title = f"UFM optimum, simplex ETF, {args.loss.upper()}, K={K}, mu={mu:g}"
        if p != 2.0:
            title += f", p={p:g}"
        family = _power_family(args, pairs, classes)
        paths = _plot(W, None, classes, pairs, c, c2, lam, H, args.plot, title, family)
        msg += f"; figure {paths[0]}"
    print(msg, file=sys.stderr if args.json == "-" else sys.stdout)
    return 0


def _ufm(args: argparse.Namespace, pairs: list[tuple[int, int]]) -> int:
    K = args.classes
    d = args.dim or K
    mu_w = args.weight_decay_w or args.weight_decay_h
    res = full_ufm(
        K,
        d,
        args.weight_decay_h,
        mu_w,
        alpha=args.alpha,
        loss=args.loss,
        bias=not args.no_bias,
        nodes=args.nodes,
        lambdas=args.lambdas,
        seed=args.seed,
    )
    c, c2, lam = _points(pairs, res.lambdas)
    H = res.features[c, c2, np.tile(np.arange(len(res.lambdas)), len(pairs))]
    out = {
        "classes": K,
        "dim": d,
        "weight_decay_h": args.weight_decay_h,
        "weight_decay_w": mu_w,
        "alpha": args.alpha,
        "loss": args.loss,
        "bias": not args.no_bias,
        "quadrature_nodes": res.nodes.tolist(),
        "quadrature_weights": res.weights.tolist(),
        "objective": res.loss,
        "objective_history": res.loss_history,
        "grad_norm": res.grad_norm,
        "converged": res.converged,
        "diagnostics": res.diagnostics,
        "W": res.W.tolist(),
        "b": res.b.tolist(),
        "lambdas": res.lambdas.tolist(),
        "solutions": _solutions(
            res.W,
            res.b,
            args.weight_decay_h,
            c,
            c2,
            lam,
            H,
            args.loss,
            kkt_residual(
                res.W, res.b, args.weight_decay_h, c, c2, lam, H, loss=args.loss, relative=True
            ),
        ),
    }
    _write_json(out, args.json)
    diag = res.diagnostics
    msg = (
        f"full UFM K={K} d={d}: objective {res.loss:.10g}, grad norm {res.grad_norm:.1e}, "
        f"etf_distance {diag['etf_distance']:.2e}, etf_loss_gap {diag['etf_loss_gap']:.2e}"
    )
    if args.plot:
        classes = _plot_classes(pairs, K)
        title = (
            f"full UFM optimum, {args.loss.upper()}, K={K}, d={d}, "
            f"mu_h={args.weight_decay_h:g}, mu_w={mu_w:g}"
        )
        paths = _plot(res.W, res.b, classes, pairs, c, c2, lam, H, args.plot, title)
        msg += f"; figure {paths[0]}"
    print(msg, file=sys.stderr if args.json == "-" else sys.stdout)
    return 0


def _plot_classes(pairs: list[tuple[int, int]], K: int) -> list[int]:
    """The first three distinct classes of the pairs, filled up with the smallest unused ones."""
    classes: list[int] = []
    for pair in pairs:
        for k in pair:
            if k not in classes:
                classes.append(k)
    classes = classes[:3]
    classes += [k for k in range(K) if k not in classes][: 3 - len(classes)]
    return classes


def _plot(
    W: np.ndarray,
    b: np.ndarray | None,
    classes: list[int],
    pairs: list[tuple[int, int]],
    c: np.ndarray,
    c2: np.ndarray,
    lam: np.ndarray,
    H: np.ndarray,
    path: str,
    title: str,
    family: list | None = None,
) -> list[pathlib.Path]:
    from theory.plots import theory_figure

    curves = []
    for i, j in pairs:
        if i in classes and j in classes:
            sel = (c == i) & (c2 == j)
            curves.append((i, j, lam[sel], H[sel]))
    try:
        return theory_figure(W, classes, curves, path, b=b, title=title, power_family=family)
    except OSError as exc:
        raise _WriteError(f"argument --plot: cannot write {path}: {exc.strerror or exc}") from None


def _power_family(
    args: argparse.Namespace, pairs: list[tuple[int, int]], classes: list[int]
) -> list | None:
    """For the first different-class pair of the figure: (p, c, c2, lams, H, H_same) for each p of
    PLOT_POWERS (and the requested p), on a fine lambda grid, for the figure's p-family panel."""
    pair = next(((i, j) for i, j in pairs if i != j and i in classes and j in classes), None)
    if pair is None:
        return None
    K, mu, i, j = args.classes, args.weight_decay, *pair
    lams = np.linspace(0.0, 1.0, 41)
    family = []
    for p in sorted({*PLOT_POWERS, args.penalty_power}, reverse=True):
        kw = {"norm": args.norm, "loss": args.loss, "penalty_power": p}
        A, B = etf_coefficients(K, mu, i, j, lams, **kw)
        W = simplex_etf(K, args.norm)
        H = A[:, None] * W[i] + B[:, None] * W[j]
        A_same = etf_coefficients(K, mu, i, i, 1.0, **kw)[0]
        family.append((p, i, j, lams, H, float(A_same) * W[i]))
    return family


def _write_json(out: dict, path: str | None) -> None:
    if path is None:
        return
    text = json.dumps(_finite(out), allow_nan=False)
    if path == "-":
        sys.stdout.write(text + "\n")
        return
    p = pathlib.Path(path)
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text + "\n")
    except OSError as exc:
        raise _WriteError(f"argument --json: cannot write {path}: {exc.strerror or exc}") from None


def _finite(obj: object) -> object:
    """JSON has no NaN: replace non-finite floats by null."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_finite(v) for v in obj]
    return obj
