"""`python -m theory solve ...` (simplex-ETF classifier) and `python -m theory ufm ...` (full UFM).

Invalid arguments exit with status 2 and one line naming the argument.
"""

from __future__ import annotations

import argparse
import json
import math
import pathlib
import sys
from collections.abc import Callable, Sequence

import numpy as np

from theory.etf import etf_optimum, simplex_etf
from theory.fixed_classifier import kkt_residual
from theory.full_ufm import full_ufm


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
    if not np.all((values >= 0) & (values <= 1)):
        raise argparse.ArgumentTypeError(f"values must lie in [0, 1], got {text!r}")
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
    parser = _Parser(prog="python -m theory", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    solve = sub.add_parser("solve", help="UFM optimum for a simplex-ETF classifier")
    solve.add_argument("--classes", type=_classes, required=True, help="K >= 2")
    solve.add_argument("--weight-decay", type=_positive, required=True, help="mu > 0")
    solve.add_argument("--norm", type=_positive, default=1.0, help="row norm s of the ETF")
    _common(solve, default_pairs="0-1,0-0")

    ufm = sub.add_parser("ufm", help="full UFM: W, b and the features jointly")
    ufm.add_argument("--classes", type=_classes, required=True, help="K >= 2")
    ufm.add_argument("--dim", type=_int_at_least(1), default=None, help="d (default K)")
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


def _common(p: argparse.ArgumentParser, default_pairs: str) -> None:
    p.add_argument("--loss", choices=("ce", "mse"), default="ce")
    p.add_argument(
        "--lambdas",
        type=parse_lambdas,
        default=parse_lambdas("0:1:21"),
        help="start:stop:num (inclusive) or a comma list (default 0:1:21)",
    )
    p.add_argument(
        "--pairs",
        type=parse_pairs,
        default=parse_pairs(default_pairs),
        help=f"`all` or a list like 0-1,2-2 (default {default_pairs})",
    )
    p.add_argument("--json", default=None, help="write the JSON here (`-`: stdout)")
    p.add_argument("--plot", default=None, help="theory figure, PNG (a PDF is written beside)")


def main(argv: Sequence[str] | None = None) -> int:
    """Run `python -m theory solve|ufm ARGS`; returns the exit status (2: invalid arguments)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    K = args.classes
    pairs = expand_pairs(args.pairs, K)
    for c, c2 in pairs:
        if max(c, c2) >= K:
            return _usage(args, f"argument --pairs: class index {max(c, c2)} is >= --classes {K}")
    if args.plot and K < 3:
        return _usage(args, "argument --plot: the B.2 projection needs --classes >= 3")
    if args.command == "solve":
        return _solve(args, pairs)
    return _ufm(args, pairs)


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
) -> list[dict]:
    Z = H @ W.T + (0.0 if b is None else b)
    res = kkt_residual(W, b, mu, c, c2, lam, H, loss=loss)
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
    K, mu = args.classes, args.weight_decay
    W = simplex_etf(K, args.norm)
    c, c2, lam = _points(pairs, args.lambdas)
    H = etf_optimum(K, mu, c, c2, lam, norm=args.norm, loss=args.loss)
    out = {
        "classes": K,
        "weight_decay": mu,
        "norm": args.norm,
        "loss": args.loss,
        "W": W.tolist(),
        "lambdas": args.lambdas.tolist(),
        "solutions": _solutions(W, None, mu, c, c2, lam, H, args.loss),
    }
    worst = max((s["kkt_residual"] for s in out["solutions"]), default=0.0)
    _write_json(out, args.json)
    msg = f"solved {len(lam)} points (K={K}, mu={mu}, loss={args.loss}); "
    msg += f"max KKT residual {worst:.2e}"
    if args.plot:
        classes = _plot_classes(pairs, K)
        title = f"UFM optimum, simplex ETF, {args.loss.upper()}, K={K}, mu={mu:g}"
        paths = _plot(W, None, classes, pairs, c, c2, lam, H, args.plot, title)
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
        "solutions": _solutions(res.W, res.b, args.weight_decay_h, c, c2, lam, H, args.loss),
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
) -> list[pathlib.Path]:
    from theory.plots import theory_figure

    curves = []
    for i, j in pairs:
        if i in classes and j in classes:
            sel = (c == i) & (c2 == j)
            curves.append((i, j, lam[sel], H[sel]))
    return theory_figure(W, classes, curves, path, b=b, title=title)


def _write_json(out: dict, path: str | None) -> None:
    if path is None:
        return
    text = json.dumps(_finite(out), allow_nan=False)
    if path == "-":
        sys.stdout.write(text + "\n")
    else:
        p = pathlib.Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text + "\n")


def _finite(obj: object) -> object:
    """JSON has no NaN: replace non-finite floats by null."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_finite(v) for v in obj]
    return obj
