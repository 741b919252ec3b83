"""`nc-mixup data`: list the datasets, check one, or prepare a TFDS copy offline.

    nc-mixup data list
    nc-mixup data check fashion_mnist [--raw-dir DIR | --data-dir DIR] [--source auto|tfds|raw]
    nc-mixup data prepare fashion_mnist --raw-dir /usr/share/datasets/fashion-mnist \\
        --data-dir ~/tensorflow_datasets
"""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "data",
        help="list, check or prepare datasets (TFDS copies built offline from raw files)",
        description="Datasets: list the known ones, check one, or build a TFDS copy offline.",
    )
    sub = p.add_subparsers(dest="data_command", metavar="ACTION", required=True)

    sub.add_parser("list", help="the known datasets, with classes, shape and raw files")

    c = sub.add_parser(
        "check",
        help="load a dataset and print its counts, content hashes and where it was read from",
        description=(
            "Load both splits of NAME offline (never downloads) and print, per split, the shape, "
            "the examples per class, the mean pixel and the content hash, then the source read. "
            "A --raw-dir or --data-dir that lacks the data is an error naming it, with the "
            "command that would prepare the data."
        ),
    )
    c.add_argument("name", help="dataset name (see `nc-mixup data list`)")
    c.add_argument(
        "--data-dir",
        default=None,
        help="TFDS data_dir holding a prepared copy (default: $TFDS_DATA_DIR, else "
        "~/tensorflow_datasets)",
    )
    c.add_argument(
        "--raw-dir",
        default=None,
        help="folder with the original files (default: the Debian location, "
        "/usr/share/datasets/fashion-mnist for fashion_mnist)",
    )
    c.add_argument(
        "--source",
        default="auto",
        choices=("auto", "tfds", "raw"),
        help="auto: a prepared TFDS copy if there, else the raw files; tfds or raw: "
        "only that one (default: auto)",
    )

    q = sub.add_parser(
        "prepare",
        help="build a TFDS dataset offline from the raw files",
        description=(
            "Write NAME as a TFDS dataset (DATA_DIR/NAME/VERSION) from the original files in "
            "RAW_DIR, without network access. The decoded arrays are verified (counts, and the "
            "content hash where the real data's is known), not the compressed bytes, so e.g. the "
            "re-compressed Debian FashionMNIST files are accepted. The result can be copied to a "
            "gs:// bucket and read with source='tfds'."
        ),
    )
    q.add_argument("name", help="dataset name (see `nc-mixup data list`)")
    q.add_argument(
        "--raw-dir",
        required=True,
        help="folder with the original files (e.g. /usr/share/datasets/fashion-mnist)",
    )
    q.add_argument(
        "--data-dir",
        required=True,
        help="TFDS data_dir to write into (local or gs://); NAME/VERSION is created",
    )
    q.add_argument("--overwrite", action="store_true", help="replace an existing prepared copy")
    q.add_argument(
        "--no-verify",
        dest="verify",
        action="store_false",
        help="skip reading the written dataset back to check its hash",
    )
    q.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(run=run)


def run(args: argparse.Namespace, extra: list[str]) -> int:
    from nc_mixup.cli import UsageError
    from nc_mixup.data import DatasetError

    try:
        return _ACTIONS[args.data_command](args)
    except DatasetError as e:
        raise UsageError(str(e)) from None


def _list(args: argparse.Namespace) -> int:
    from nc_mixup.data import DATASETS

    for info in DATASETS.values():
        files = sorted({f for split_files in info.raw_files.values() for f in split_files})
        h, w, c = info.image_shape
        print(
            f"{info.name:14s} {info.num_classes:4d} classes  {h}x{w}x{c}  "
            f"train {info.num_examples['train']:6d}  test {info.num_examples['test']:6d}  "
            f"raw: {', '.join(files)}"
        )
    return 0


def _check(args: argparse.Namespace) -> int:
    import numpy as np

    from nc_mixup.data import get_info, load_dataset, locate
    from nc_mixup.data.raw import content_hash

    info = get_info(args.name)
    kwargs = dict(
        data_dir=args.data_dir, raw_dir=args.raw_dir, source=args.source, download=False
    )  # a check never downloads: it fails fast, writing nothing
    sources = {}
    for split in ("train", "test"):
        sources[split] = locate(args.name, split, **kwargs).describe()
        images, labels = load_dataset(args.name, split, **kwargs)
        counts = np.bincount(labels, minlength=info.num_classes)
        digest = content_hash(images, labels)
        known = info.sha256.get(split)
        verdict = (
            ""
            if known is None
            else ("  (the real data)" if digest == known else "  (DIFFERS from the real data)")
        )
        print(
            f"{args.name} {split}: {'x'.join(map(str, images.shape))} uint8, "
            f"{counts.min()}..{counts.max()} per class, mean pixel "
            f"{images.mean() / 255.0:.4f}, sha256 {digest}{verdict}"
        )
    if sources["train"] == sources["test"]:
        print(f"{args.name}: read from {sources['train']}")
    else:
        for split, where in sources.items():
            print(f"{args.name} {split}: read from {where}")
    return 0


def _prepare(args: argparse.Namespace) -> int:
    from nc_mixup.data import tfds_source

    result = tfds_source.prepare(
        args.name,
        args.raw_dir,
        args.data_dir,
        overwrite=args.overwrite,
        verify=args.verify,
        progress=not args.quiet,
    )
    n = result["num_examples"]
    print(
        f"prepared {args.name} {result['version']} at {result['path']} "
        f"(train {n['train']}, test {n['test']}"
        f"{', read back and verified' if args.verify else ''})"
    )
    print(f"  read from raw files in {args.raw_dir}")
    for split, digest in result["sha256"].items():
        print(f"  {split} sha256 {digest}")
    return 0


_ACTIONS = {"list": _list, "check": _check, "prepare": _prepare}
