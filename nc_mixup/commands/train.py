"""`nc-mixup train` (not yet implemented)."""


def register(subparsers):
    p = subparsers.add_parser("train", help="(not yet implemented)")
    p.set_defaults(run=run)


def run(args, extra):
    print("nc-mixup train: not yet implemented")
    return 1
