"""`nc-mixup data` (not yet implemented)."""


def register(subparsers):
    p = subparsers.add_parser("data", help="(not yet implemented)")
    p.set_defaults(run=run)


def run(args, extra):
    print("nc-mixup data: not yet implemented")
    return 1
